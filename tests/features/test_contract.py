"""Every contract rule rejects a crafted bad row, and the report names its row and column."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from features.contract import (
    ContractError,
    ContractViolation,
    read_extract,
    read_table,
    validate_extract,
)


def test_hand_written_extract_is_valid(clients, sessions):
    report = validate_extract(clients, sessions)
    assert report.ok, report.lines()
    assert report.sessions["phq9"].dtype == "Int64"
    assert report.clients["intake_date"].dtype == "datetime64[ns]"
    assert report.sessions["attended"].dtype == bool


def _set(table: str, row: int, column: str, value: object) -> Callable:
    def mutate(clients: pd.DataFrame, sessions: pd.DataFrame) -> None:
        (clients if table == "clients" else sessions).at[row, column] = value

    return mutate


# (mutation, table, 1-based row, column, words the check must contain)
CASES = [
    (_set("clients", 1, "client_id", ""), "clients", 2, "client_id", "must not be empty"),
    (_set("clients", 1, "client_id", "c1"), "clients", 2, "client_id", "unique"),
    (_set("clients", 0, "clinic_id", None), "clients", 1, "clinic_id", "must not be empty"),
    (_set("clients", 2, "therapist_id", " "), "clients", 3, "therapist_id", "must not be empty"),
    (_set("clients", 0, "intake_date", "2026-02-30"), "clients", 1, "intake_date", "ISO 8601"),
    (_set("clients", 0, "age", "15"), "clients", 1, "age", "at least 16"),
    (_set("clients", 0, "age", "101"), "clients", 1, "age", "at most 100"),
    (_set("clients", 0, "age", "34.5"), "clients", 1, "age", "whole number"),
    (_set("clients", 1, "gender", "woman"), "clients", 2, "gender", "one of female"),
    (_set("clients", 1, "primary_concern", "grief"), "clients", 2, "primary_concern", "one of"),
    (_set("clients", 1, "prior_treatment", "maybe"), "clients", 2, "prior_treatment", "true or"),
    (_set("clients", 1, "termination", "quit"), "clients", 2, "termination", "one of"),
    (_set("clients", 2, "end_date", "2026-03-01"), "clients", 3, "end_date", "exactly when"),
    (_set("clients", 0, "end_date", None), "clients", 1, "end_date", "exactly when"),
    (_set("clients", 0, "end_date", "2026-01-01"), "clients", 1, "end_date", "before intake"),
    (_set("sessions", 4, "client_id", "c404"), "sessions", 5, "client_id", "does not exist"),
    (_set("sessions", 1, "session_number", "0"), "sessions", 2, "session_number", "at least 1"),
    (_set("sessions", 1, "session_number", "1"), "sessions", 2, "session_number", "repeat"),
    (_set("sessions", 3, "session_number", "5"), "sessions", 4, "session_number", "missing"),
    (_set("sessions", 0, "session_date", "2026-01-04"), "sessions", 1, "session_date", "intake"),
    (_set("sessions", 2, "session_date", "2026-01-11"), "sessions", 3, "session_date", "previous"),
    (_set("sessions", 2, "session_date", "19/01/2026"), "sessions", 3, "session_date", "ISO"),
    (_set("sessions", 2, "attended", "perhaps"), "sessions", 3, "attended", "true or false"),
    (_set("sessions", 6, "srs", "30"), "sessions", 7, "attended", "every measure must be empty"),
    (_set("sessions", 0, "wai_client", "0.5"), "sessions", 1, "wai_client", "at least 1"),
    (_set("sessions", 4, "wai_therapist", "5.5"), "sessions", 5, "wai_therapist", "at most 5"),
    (_set("sessions", 0, "srs", "40.5"), "sessions", 1, "srs", "at most 40"),
    (_set("sessions", 4, "ors", "-1"), "sessions", 5, "ors", "at least 0"),
    (_set("sessions", 4, "oq45", "181"), "sessions", 5, "oq45", "at most 180"),
    (_set("sessions", 0, "phq9", "27.5"), "sessions", 1, "phq9", "whole number"),
    (_set("sessions", 0, "phq9", "28"), "sessions", 1, "phq9", "at most 27"),
    (_set("sessions", 0, "gad7", "22"), "sessions", 1, "gad7", "at most 21"),
    (_set("sessions", 0, "srs", "high"), "sessions", 1, "srs", "must be a number"),
    (_set("sessions", 0, "srs", "inf"), "sessions", 1, "srs", "must be a number"),
]


@pytest.mark.parametrize(("mutate", "table", "row", "column", "words"), CASES)
def test_each_rule_rejects_a_crafted_bad_row(clients, sessions, mutate, table, row, column, words):
    mutate(clients, sessions)
    report = validate_extract(clients, sessions)
    assert not report.ok
    hits = report.failures[
        (report.failures["table"] == table)
        & (report.failures["row"] == row)
        & (report.failures["column"] == column)
    ]
    assert hits["check"].str.contains(words, regex=False).any(), report.lines()


def test_validation_is_lazy_every_failure_in_one_run(clients, sessions):
    clients.at[0, "age"] = "200"
    clients.at[1, "gender"] = "x"
    sessions.at[0, "phq9"] = "99"
    sessions.at[5, "ors"] = "x"
    sessions.at[8, "wai_client"] = "9"
    report = validate_extract(clients, sessions)
    named = set(report.failures[["table", "row", "column"]].itertuples(index=False, name=None))
    assert {
        ("clients", 1, "age"),
        ("clients", 2, "gender"),
        ("sessions", 1, "phq9"),
        ("sessions", 6, "ors"),
        ("sessions", 9, "wai_client"),
    } <= named


def test_range_rules_still_run_beside_an_unparseable_cell(clients, sessions):
    clients.at[0, "age"] = "thirty"
    clients.at[1, "age"] = "12"
    report = validate_extract(clients, sessions)
    ages = report.failures[report.failures["column"] == "age"]
    assert set(ages["row"]) == {1, 2}
    assert len(ages) == 2  # the unparseable cell is reported once, not also as "empty"


def test_missing_and_unexpected_columns_are_named(clients, sessions):
    report = validate_extract(clients.drop(columns=["age"]), sessions.assign(mood=1))
    lines = "\n".join(report.lines())
    assert "clients file: age: required column is missing" in lines
    assert "sessions file: mood: unexpected column" in lines


def test_report_lines_name_row_client_column_and_value(clients, sessions):
    sessions.at[0, "phq9"] = "28"
    (line,) = validate_extract(clients, sessions).lines()
    assert line == "sessions row 1 (client c1): phq9: must be at most 27; got '28'"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_read_extract_round_trips_csv_and_parquet(tmp_path, clients, sessions, suffix):
    parsed = validate_extract(clients, sessions)
    paths = {name: tmp_path / f"{name}{suffix}" for name in ("clients", "sessions")}
    for name, frame in (("clients", parsed.clients), ("sessions", parsed.sessions)):
        if suffix == ".csv":
            frame.to_csv(paths[name], index=False)
        else:
            frame.to_parquet(paths[name], index=False)
    read_clients, read_sessions = read_extract(paths["clients"], paths["sessions"])
    pd.testing.assert_frame_equal(read_clients, parsed.clients, check_dtype=False)
    pd.testing.assert_frame_equal(read_sessions, parsed.sessions, check_dtype=False)


def test_read_extract_raises_with_the_full_report(tmp_path, clients, sessions):
    clients.at[0, "age"] = "9"
    clients.to_csv(tmp_path / "c.csv", index=False)
    sessions.to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(ContractViolation) as raised:
        read_extract(tmp_path / "c.csv", tmp_path / "s.csv")
    assert raised.value.report.failures["column"].tolist() == ["age"]


def test_unreadable_files_are_refused_with_a_reason(tmp_path):
    with pytest.raises(ContractError, match="no such file"):
        read_table(tmp_path / "absent.csv")
    (tmp_path / "table.xlsx").write_text("x")
    with pytest.raises(ContractError, match="unsupported file type"):
        read_table(tmp_path / "table.xlsx")


def test_an_empty_clients_table_is_checked_not_crashed_on(clients, sessions):
    empty = clients.iloc[0:0]
    assert validate_extract(empty, sessions.iloc[0:0]).ok
    report = validate_extract(empty, sessions)
    assert not report.ok
    assert len(report.failures) >= len(sessions)  # every session names an unknown client


def test_the_self_harm_item_is_optional_and_checked_when_present(clients, sessions):
    assert validate_extract(clients, sessions).ok  # an extract without the column is valid
    with_item = sessions.assign(phq9_item9=None)
    with_item.loc[0, "phq9_item9"] = "2"  # c1 session 1, PHQ-9 18: fine
    assert validate_extract(clients, with_item).ok
    with_item.loc[1, "phq9_item9"] = "4"  # beyond the item's 0-3
    with_item.loc[2, "phq9_item9"] = "3"
    with_item.loc[2, "phq9"] = "2"  # item above its total
    with_item.loc[6, "phq9_item9"] = "1"  # c2's missed session
    failures = validate_extract(clients, with_item).failures
    found = set(zip(failures["row"], failures["column"], failures["check"], strict=True))
    assert (2, "phq9_item9", "must be at most 3") in found
    assert (3, "phq9_item9", "must not be above the PHQ-9 total (phq9)") in found
    assert any(row == 7 and "missed session" in check for row, _, check in found)
