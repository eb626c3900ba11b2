"""From audit records back to contract tables: latest views, corrections, clients left out.

Records are built directly here (plain objects with the store's attributes), never through
the service: the round trip through the real service and store is tests/cli's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.contract import validate_extract
from features.instruments import INSTRUMENTS, MEASURE_COLUMNS
from features.schemas import CLIENT_COLUMNS, SESSION_COLUMNS, SessionsSchema
from features.vocabulary import GENDERS, PRIMARY_CONCERNS, TERMINATIONS
from monitoring.export import reconstruct_extract

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Assessment:
    """What the export reads of a stored assessment."""

    client_id: str
    created_at: datetime
    request: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What the export reads of a stored outcome report."""

    client_id: str
    termination: str
    end_date: date | None
    created_at: datetime


def _client(client_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "clinic_id": "north",
        "therapist_id": "t1",
        "intake_date": "2026-01-05",
        "age": 34,
        "gender": "female",
        "primary_concern": "depression",
        "prior_treatment": False,
    } | changes


def _session(number: int, day: str, **measures: Any) -> dict[str, Any]:
    """An attended session with these measures (the others missing)."""
    scores = {m: measures.get(m) for m in MEASURE_COLUMNS}
    return {"session_number": number, "session_date": day, "attended": True, **scores}


WEEKS = [
    _session(1, "2026-01-05", phq9=18, gad7=12, srs=35.0),
    _session(2, "2026-01-12", phq9=15, gad7=11, srs=37.5),
    _session(3, "2026-01-19", phq9=12, wai_client=4.2),
]


def _scored(client: dict[str, Any], sessions: list[dict[str, Any]], *, at: int) -> Assessment:
    """An assessment stored ``at`` minutes after T0 with the client and these sessions."""
    request = {"client": client, "sessions": sessions}
    return Assessment(client["client_id"], T0 + timedelta(minutes=at), request)


def _ended(client_id: str, termination: str, end: str | None, *, at: int) -> Outcome:
    end_date = None if end is None else date.fromisoformat(end)
    return Outcome(client_id, termination, end_date, T0 + timedelta(minutes=at))


def test_the_request_with_most_sessions_wins_and_the_latest_of_those_corrects():
    corrected = [WEEKS[0], _session(2, "2026-01-12", phq9=14, gad7=11, srs=37.5), WEEKS[2]]
    records = [
        _scored(_client("c1"), WEEKS[:1], at=0),
        _scored(_client("c1", age=35), corrected, at=3),  # a correction, streamed early
        _scored(_client("c1"), WEEKS, at=1),
        _scored(_client("c1", therapist_id="t9"), WEEKS[:2], at=4),  # an early landmark re-sent
    ]
    rebuilt = reconstruct_extract(assessments=iter(records), outcomes=iter([]))
    (client,) = rebuilt.clients.to_dict("records")
    assert client["age"] == 35 and client["therapist_id"] == "t1"  # from the latest full view
    assert rebuilt.sessions["session_number"].tolist() == [1, 2, 3]
    assert rebuilt.sessions["phq9"].tolist() == [18, 14, 12]
    assert rebuilt.assessments_read == 4 and rebuilt.outcomes_read == 0


def test_the_latest_outcome_report_wins_and_no_report_means_ongoing():
    records = [_scored(_client(c), WEEKS, at=0) for c in ("c1", "c2", "c3")]
    outcomes = [
        _ended("c1", "completed", "2026-01-26", at=9),  # the correction, streamed first
        _ended("c1", "dropout", "2026-01-20", at=5),
        _ended("c3", "completed", "2026-01-26", at=5),
        _ended("c3", "ongoing", None, at=6),  # the episode was reopened
    ]
    rebuilt = reconstruct_extract(assessments=records, outcomes=outcomes)
    clients = rebuilt.clients.set_index("client_id")
    assert clients["termination"].to_dict() == {
        "c1": "completed",
        "c2": "ongoing",
        "c3": "ongoing",
    }
    assert clients.at["c1", "end_date"] == pd.Timestamp("2026-01-26")
    assert clients[["end_date"]].loc[["c2", "c3"]].isna().all().all()
    assert rebuilt.terminations() == {"completed": 1, "dropout": 0, "referred": 0, "ongoing": 2}
    assert rebuilt.left_out == ()


def test_contradictory_clients_are_left_out_and_listed_with_their_reason():
    records = [
        _scored(_client("ok"), WEEKS, at=0),
        _scored(_client("moved"), WEEKS[:1], at=0),
        _scored(_client("moved", clinic_id="south"), WEEKS[:2], at=1),
        _scored(_client("again"), WEEKS, at=0),
        _scored(_client("again", intake_date="2026-03-02"), [_session(1, "2026-03-02")], at=1),
        _scored(_client("early"), WEEKS, at=0),
        _scored(_client("before"), WEEKS, at=0),
        Assessment("broken", T0, {"client": _client("broken")}),
    ]
    outcomes = [
        _ended("ok", "dropout", "2026-02-01", at=5),
        _ended("early", "dropout", "2026-01-15", at=5),
        _ended("before", "referred", "2025-12-24", at=5),
        _ended("ghost", "completed", "2026-02-01", at=5),
    ]
    rebuilt = reconstruct_extract(assessments=records, outcomes=outcomes)
    assert rebuilt.clients["client_id"].tolist() == ["ok"]
    assert set(rebuilt.sessions["client_id"]) == {"ok"}
    reasons = {entry.client_id: (entry.rule, entry.reason) for entry in rebuilt.left_out}
    assert {c: rule for c, (rule, _) in reasons.items()} == {
        "again": "requests_disagree",
        "before": "end_before_intake",
        "broken": "unreadable",
        "early": "end_before_last_session",
        "ghost": "no_assessment",
        "moved": "requests_disagree",
    }
    assert "clinic_id 'north' then 'south'" in reasons["moved"][1]
    assert "intake_date '2026-01-05' then '2026-03-02'" in reasons["again"][1]
    assert (
        "end_date 2026-01-15 is before session 3's session_date 2026-01-19" in reasons["early"][1]
    )
    assert "end_date 2025-12-24 is before intake_date 2026-01-05" in reasons["before"][1]
    assert "'sessions'" in reasons["broken"][1]
    report = rebuilt.report()
    assert report["left_out_by_rule"]["requests_disagree"] == 2
    assert len(report["left_out"]) == 6 and report["clients"] == 1


def test_no_records_give_empty_tables_with_the_contract_columns():
    rebuilt = reconstruct_extract(assessments=[], outcomes=[])
    assert list(rebuilt.clients.columns) == list(CLIENT_COLUMNS) and rebuilt.clients.empty
    assert list(rebuilt.sessions.columns) == list(SESSION_COLUMNS) and rebuilt.sessions.empty
    assert rebuilt.report()["terminations"] == dict.fromkeys(TERMINATIONS, 0)


# --- property: an extract scored at every session and with outcomes reported comes back ------

_INTEGER_MEASURES = {
    m for m, column in SessionsSchema.to_schema().columns.items() if str(column.dtype) == "Int64"
}


def _measure(name: str) -> st.SearchStrategy[Any]:
    low, high = INSTRUMENTS[name].low, INSTRUMENTS[name].high
    if name in _INTEGER_MEASURES:
        return st.integers(int(low), int(high))
    return st.floats(low, high, allow_nan=False)


@st.composite
def _episode(draw: st.DrawFn, client_id: str) -> dict[str, Any]:
    """One contract-valid episode whose end (if any) is on or after its last session."""
    intake = draw(st.dates(date(2024, 1, 1), date(2026, 12, 31)))
    day, sessions = intake, []
    for number in range(1, draw(st.integers(1, 6)) + 1):
        day += timedelta(days=draw(st.integers(0, 21)))
        attended = draw(st.booleans())
        measures = {
            m: draw(st.none() | _measure(m)) if attended else None for m in MEASURE_COLUMNS
        }
        sessions.append(
            {"session_number": number, "session_date": day.isoformat(), "attended": attended}
            | measures
        )
    termination = draw(st.sampled_from(TERMINATIONS))
    end = None if termination == "ongoing" else day + timedelta(days=draw(st.integers(0, 90)))
    client = {
        "client_id": client_id,
        "clinic_id": draw(st.sampled_from(["north", "south"])),
        "therapist_id": draw(st.sampled_from(["t1", "t2", "t3"])),
        "intake_date": intake.isoformat(),
        "age": draw(st.integers(16, 100)),
        "gender": draw(st.sampled_from(GENDERS)),
        "primary_concern": draw(st.sampled_from(PRIMARY_CONCERNS)),
        "prior_treatment": draw(st.sampled_from([True, False, None])),
    }
    return {
        "client": client,
        "sessions": sessions,
        "termination": termination,
        "end_date": end,
        "reports": draw(st.sampled_from(["once", "corrected"] + ["none"] * (end is None))),
    }


@st.composite
def _extracts(draw: st.DrawFn) -> list[dict[str, Any]]:
    return [draw(_episode(f"c{i:02d}")) for i in range(draw(st.integers(1, 5)))]


def _stored(episodes: list[dict[str, Any]], shuffle: random.Random) -> tuple[list, list]:
    """Each episode scored at every session and its ending reported, in shuffled order."""
    assessments, outcomes = [], []
    for e in episodes:
        for k in range(1, len(e["sessions"]) + 1):
            assessments.append({"client": e["client"], "sessions": e["sessions"][:k]})
        client_id = e["client"]["client_id"]
        if e["reports"] == "corrected":  # a wrong report first, corrected an hour later
            outcomes.append(Outcome(client_id, "referred", date(2020, 1, 1), T0))
        if e["reports"] != "none":
            outcomes.append(
                Outcome(client_id, e["termination"], e["end_date"], T0 + timedelta(hours=1))
            )
    shuffle.shuffle(assessments)
    shuffle.shuffle(outcomes)
    stamped = [
        Assessment(r["client"]["client_id"], T0 + timedelta(seconds=i), r)
        for i, r in enumerate(assessments)
    ]
    return stamped, outcomes


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(episodes=_extracts(), shuffle=st.randoms(use_true_random=False))
def test_an_extract_scored_at_every_session_comes_back_exactly(episodes, shuffle):
    original = validate_extract(
        pd.DataFrame(
            [
                e["client"]
                | {
                    "termination": e["termination"],
                    "end_date": None if e["end_date"] is None else e["end_date"].isoformat(),
                }
                for e in episodes
            ],
            columns=list(CLIENT_COLUMNS),
        ),
        pd.DataFrame(
            [{"client_id": e["client"]["client_id"]} | s for e in episodes for s in e["sessions"]],
            columns=list(SESSION_COLUMNS),
        ),
    )
    assert original.ok, original.lines()
    assessments, outcomes = _stored(episodes, shuffle)
    rebuilt = reconstruct_extract(assessments=iter(assessments), outcomes=iter(outcomes))
    assert rebuilt.left_out == ()
    pd.testing.assert_frame_equal(rebuilt.clients, original.clients, check_exact=True)
    pd.testing.assert_frame_equal(rebuilt.sessions, original.sessions, check_exact=True)
