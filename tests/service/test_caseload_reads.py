"""What a caseload reads: every score of its clinics, and only each open episode's latest
answer whole, so that it does not decode every document the store has kept (on SQLite and
PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import date

from service.caseload import read_caseload
from tests.support.caseload import client_body


def _assess(store, client_id, *, dropout, therapist="t-1", clinic="north", session=1) -> str:
    assessment_id = str(uuid.uuid4())
    request = client_body(client_id, therapist_id=therapist, clinic_id=clinic, sessions=session)
    response = {
        "assessment_id": assessment_id,
        "client_id": client_id,
        "as_of_session": session,
        "dropout": {"probability": dropout, "risk_level": "moderate", "factors": []},
        "poor_outcome": {"probability": 0.2, "risk_level": "low", "factors": []},
        "signals": [],
    }
    store.record_assessment(
        assessment_id=assessment_id,
        client_id=client_id,
        as_of_session=session,
        model_name="dropout-risk",
        model_version="1",
        request=request,
        response=response,
    )
    return assessment_id


def test_only_each_open_episodes_latest_answer_is_read_whole(store, monkeypatch):
    for session, dropout in enumerate([0.31, 0.35, 0.42], start=1):
        ongoing = _assess(store, "c-ongoing", dropout=dropout, session=session)
    _assess(store, "c-ended", dropout=0.5)
    store.record_outcome(
        client_id="c-ended", clinic_id="north", termination="completed",
        end_date=date(2026, 5, 1), reported_by="t",
    )  # fmt: skip
    _assess(store, "c-back", dropout=0.6)
    store.record_outcome(
        client_id="c-back", clinic_id="north", termination="dropout",
        end_date=date(2026, 5, 1), reported_by="t",
    )  # fmt: skip
    back = _assess(store, "c-back", dropout=0.7, therapist="t-2", session=2)  # a new episode
    _assess(store, "c-elsewhere", dropout=0.9, clinic="south")

    asked: list[str] = []
    narrowed_to: list[frozenset[str] | None] = []
    whole = store.assessments_with_ids

    def spying(ids, *, clinics):
        asked.extend(ids)
        narrowed_to.append(clinics)
        return whole(ids, clinics=clinics)

    monkeypatch.setattr(store, "assessments_with_ids", spying)
    caseload = read_caseload(store, clinics=frozenset({"north"}), therapist_id=None)

    assert sorted(asked) == sorted([ongoing, back])
    assert narrowed_to == [frozenset({"north"})]  # whole answers of the caller's clinics only
    entries = {entry.client_id: entry for entry in caseload.entries}
    assert set(entries) == {"c-ongoing", "c-back"}
    assert [point.dropout for point in entries["c-ongoing"].trend] == [0.31, 0.35, 0.42]
    assert [point.session for point in entries["c-ongoing"].trend] == [1, 2, 3]
    assert entries["c-ongoing"].risks["dropout"].change == 0.07
    assert entries["c-ongoing"].assessment_id == ongoing
    assert entries["c-back"].risks["dropout"].change is None  # the episode's first
    assert [point.dropout for point in entries["c-back"].trend] == [0.7]
    mine = read_caseload(store, clinics=frozenset({"north"}), therapist_id="t-2")
    assert [entry.client_id for entry in mine.entries] == ["c-back"]


def test_an_assessment_erased_after_the_scores_were_read_is_not_listed(store, monkeypatch):
    _assess(store, "c-001", dropout=0.3)
    _assess(store, "c-002", dropout=0.4)
    whole = store.assessments_with_ids

    def erased_meanwhile(ids, *, clinics):
        return [record for record in whole(ids, clinics=clinics) if record.client_id != "c-002"]

    monkeypatch.setattr(store, "assessments_with_ids", erased_meanwhile)
    caseload = read_caseload(store, clinics=frozenset({"north"}), therapist_id=None)
    assert [entry.client_id for entry in caseload.entries] == ["c-001"]
