"""Outcome reports over HTTP: stored before the answer, refused when contradictory."""

from __future__ import annotations

import pytest

from service.audit import AuditStore
from service.security import Scope

OUTCOMES = Scope.OUTCOMES_WRITE


def test_a_reported_outcome_is_stored_with_who_reported_it(audited_api, audit_url, tokens):
    report = {"client_id": "c-001", "termination": "dropout", "end_date": "2026-03-23"}
    answer = audited_api.post("/v1/outcomes", json=report, headers=tokens.header(OUTCOMES))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert {k: body[k] for k in report} == report
    with AuditStore.open(audit_url) as store:
        (stored,) = list(store.outcomes(client_id="c-001"))
    assert stored.outcome_id == body["outcome_id"]
    assert stored.termination == "dropout" and str(stored.end_date) == "2026-03-23"
    assert stored.reported_by == "outcomes-write"  # the token's name


def test_an_ongoing_episode_has_no_end_date(api, tokens):
    report = {"client_id": "c-9", "termination": "ongoing", "end_date": None}
    answer = api.post("/v1/outcomes", json=report, headers=tokens.header(OUTCOMES))
    assert answer.status_code == 201


@pytest.mark.parametrize(
    ("report", "path"),
    [
        ({"client_id": "c-1", "termination": "completed"}, "end_date"),
        ({"client_id": "c-1", "termination": "ongoing", "end_date": "2026-01-01"}, "end_date"),
        ({"client_id": "c-1", "termination": "vanished", "end_date": "2026-01-01"}, "termination"),
        ({"client_id": "", "termination": "dropout", "end_date": "2026-01-01"}, "client_id"),
        ({"client_id": "c-1", "termination": "dropout", "end_date": "soon"}, "end_date"),
    ],
)
def test_contradictory_or_malformed_reports_get_422(api, tokens, report, path):
    answer = api.post("/v1/outcomes", json=report, headers=tokens.header(OUTCOMES))
    assert answer.status_code == 422
    assert [f["path"] for f in answer.json()["fields"]] == [path]
