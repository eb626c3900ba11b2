"""Landmarks: one example per client and k, and nothing after session k reaches it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.contract import validate_extract
from features.history import HistoryBatch
from features.instruments import INSTRUMENTS, MEASURE_COLUMNS
from features.landmarks import build_landmarks, landmark_points


def _valid(clients, sessions):
    report = validate_extract(clients, sessions)
    assert report.ok, report.lines()
    return report.clients, report.sessions


def test_one_example_per_client_and_session_up_to_l(clients, sessions):
    parsed_clients, parsed_sessions = _valid(clients, sessions)
    landmarks = build_landmarks(parsed_clients, parsed_sessions, max_landmark=3)
    pairs = list(
        landmarks.examples[["client_id", "as_of_session"]].itertuples(index=False, name=None)
    )
    # c1 has 4 sessions (cut at L=3), c2 has 3 (the third missed still counts), c3 has 2.
    assert pairs == [("c1", 1), ("c1", 2), ("c1", 3), ("c2", 1), ("c2", 2), ("c2", 3),
                     ("c3", 1), ("c3", 2)]  # fmt: skip
    assert len(landmarks.history) == len(landmarks.examples)
    assert landmarks.examples["dropout"].tolist()[:6] == [False] * 3 + [True] * 3


def test_history_holds_sessions_through_k_only(clients, sessions):
    parsed_clients, parsed_sessions = _valid(clients, sessions)
    landmarks = build_landmarks(parsed_clients, parsed_sessions, max_landmark=5)
    phq9 = MEASURE_COLUMNS.index("phq9")
    c1_at_2 = landmarks.history.take([1])
    assert c1_at_2.measures[0, :, phq9].tolist()[:2] == [18.0, 15.0]
    assert np.isnan(c1_at_2.measures[0, 2:, :]).all()
    assert c1_at_2.session_day[0].tolist()[:2] == [0.0, 7.0]
    c2_at_3 = landmarks.history.take([6])
    assert c2_at_3.attended[0].tolist()[:3] == [1.0, 1.0, 0.0]
    assert np.isnan(c2_at_3.measures[0, 2]).all()  # a missed session has no measures


def test_batch_and_request_builders_give_the_same_history(clients, sessions):
    parsed_clients, parsed_sessions = _valid(clients, sessions)
    landmarks = build_landmarks(parsed_clients, parsed_sessions, max_landmark=5)
    for row, (client_id, k) in enumerate(
        zip(landmarks.examples["client_id"], landmarks.examples["as_of_session"], strict=True)
    ):
        client = _record(parsed_clients[parsed_clients["client_id"] == client_id].iloc[0])
        client_sessions = [
            _record(s)
            for _, s in parsed_sessions[parsed_sessions["client_id"] == client_id].iterrows()
        ]
        single = HistoryBatch.from_records(client, client_sessions, as_of_session=k, window=5)
        assert single.equals(landmarks.history.take([row])), (client_id, k)


def test_the_request_builder_gives_every_history_of_a_batch_at_once(clients, sessions):
    parsed_clients, parsed_sessions = _valid(clients, sessions)
    landmarks = build_landmarks(parsed_clients, parsed_sessions, max_landmark=5)
    client_rows = {c["client_id"]: _record(c) for _, c in parsed_clients.iterrows()}
    session_rows: dict[str, list[dict]] = {}
    for _, session in parsed_sessions.iterrows():
        session_rows.setdefault(session["client_id"], []).append(_record(session))
    histories = [
        (client_rows[client_id], session_rows.get(client_id, []), int(k))
        for client_id, k in zip(
            landmarks.examples["client_id"], landmarks.examples["as_of_session"], strict=True
        )
    ]
    assert HistoryBatch.from_each_record(histories, window=5).equals(landmarks.history)
    with pytest.raises(ValueError, match="at least one"):
        HistoryBatch.from_each_record([], window=5)


def _record(row: pd.Series) -> dict:
    record = {}
    for key, value in row.items():
        if isinstance(value, pd.Timestamp):
            value = value.date()
        record[key] = (
            None if value is pd.NA or (isinstance(value, float) and np.isnan(value)) else value
        )
    return record


# --- no leakage: a property over random extracts and random changes after k ---------------

_score = {
    m: st.one_of(
        st.none(),
        st.integers(int(i.low), int(i.high)) if i.integer else st.floats(i.low, i.high),
    )
    for m, i in INSTRUMENTS.items()
}


@st.composite
def _session_rows(draw: st.DrawFn, n_sessions: int) -> list[dict]:
    rows, day = [], 0
    for number in range(1, n_sessions + 1):
        day += draw(st.integers(0, 21))
        attended = draw(st.booleans())
        rows.append(
            {
                "session_number": number,
                "day": day,
                "attended": attended,
                **{m: draw(_score[m]) if attended else None for m in MEASURE_COLUMNS},
            }
        )
    return rows


def _tables(rows: list[dict], termination: str, end_day: int | None):
    intake = pd.Timestamp("2026-01-05")
    clients = pd.DataFrame(
        {
            "client_id": ["c"],
            "clinic_id": ["k"],
            "therapist_id": ["t"],
            "intake_date": [intake],
            "age": [40],
            "gender": ["female"],
            "primary_concern": ["depression"],
            "prior_treatment": pd.array([None], dtype="boolean"),
            "termination": [termination],
            "end_date": [None if end_day is None else intake + pd.Timedelta(days=end_day)],
        }
    )
    sessions = pd.DataFrame(
        {
            "client_id": "c",
            "session_number": [r["session_number"] for r in rows],
            "session_date": [intake + pd.Timedelta(days=r["day"]) for r in rows],
            "attended": [r["attended"] for r in rows],
            **{m: [r[m] for r in rows] for m in MEASURE_COLUMNS},
        }
    )
    return _valid(clients, sessions)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n_sessions=st.integers(1, 9), window=st.integers(1, 6))
def test_no_leakage_changes_after_k_leave_landmark_k_unchanged(data, n_sessions, window):
    rows = data.draw(_session_rows(n_sessions))
    k = data.draw(st.integers(1, min(window, n_sessions)))
    changed = [dict(r) for r in rows[:k]] + data.draw(_session_rows(n_sessions))[k:]
    # Sessions after k change (scores, attendance, dates after session k), more sessions may
    # be added or removed, and the ending is rewritten.
    extra = data.draw(st.integers(-(n_sessions - k), 4))
    changed = changed[: n_sessions + min(extra, 0)]
    for number in range(len(changed) + 1, len(changed) + 1 + max(extra, 0)):
        changed.append({**changed[-1], "session_number": number, "day": changed[-1]["day"] + 7})
    last_day = rows[k - 1]["day"]
    for r in changed[k:]:
        r["day"] = max(r["day"], last_day)
    before = _tables(rows, "ongoing", None)
    after = _tables(changed, data.draw(st.sampled_from(["completed", "dropout", "referred"])),
                    max(r["day"] for r in changed))  # fmt: skip

    def history_at_k(tables):
        clients, sessions = tables
        points = landmark_points(sessions, max_landmark=window)
        assert (points["as_of_session"] == k).sum() == 1
        return HistoryBatch.from_tables(clients, sessions, points, window=window).take(
            np.flatnonzero(points["as_of_session"].to_numpy() == k)
        )

    assert history_at_k(before).equals(history_at_k(after))
