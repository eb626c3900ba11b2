"""Outcome reports over HTTP: stored before the answer, refused when contradictory."""

from __future__ import annotations

import pytest

from service.audit import AuditStore
from service.security import Scope

OUTCOMES = Scope.OUTCOMES_WRITE


def _assessed(api, tokens, example_request, client_id="c-001"):
    """Score the example client under ``client_id`` (an outcome needs an assessed client)."""
    example_request["client"]["client_id"] = client_id
    scored = api.post("/v1/risk-assessments", json=example_request, headers=tokens.header())
    assert scored.status_code == 200, scored.text


def test_a_reported_outcome_is_stored_with_who_reported_it(
    audited_api, audit_url, tokens, example_request
):
    _assessed(audited_api, tokens, example_request)
    report = {
        "client_id": "c-001",
        "clinic_id": "north",
        "termination": "dropout",
        "end_date": "2026-03-23",
    }
    answer = audited_api.post("/v1/outcomes", json=report, headers=tokens.header(OUTCOMES))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert {k: body[k] for k in report} == report
    with AuditStore.open(audit_url) as store:
        (stored,) = list(store.outcomes(client_id="c-001"))
    assert stored.outcome_id == body["outcome_id"]
    assert stored.termination == "dropout" and str(stored.end_date) == "2026-03-23"
    assert stored.reported_by == "outcomes-write"  # the token's name
    assert stored.clinic_id == "north"


def test_an_ongoing_episode_has_no_end_date(api, tokens, example_request):
    _assessed(api, tokens, example_request, "c-9")
    report = {"client_id": "c-9", "clinic_id": "north", "termination": "ongoing", "end_date": None}
    answer = api.post("/v1/outcomes", json=report, headers=tokens.header(OUTCOMES))
    assert answer.status_code == 201


def test_an_outcome_for_a_client_never_assessed_in_the_clinic_is_404(api, tokens, example_request):
    _assessed(api, tokens, example_request, "c-7")
    for clinic, client in (("north", "c-8"), ("south", "c-7")):
        report = {"client_id": client, "clinic_id": clinic, "termination": "ongoing"}
        answer = api.post("/v1/outcomes", json=report, headers=tokens.header(OUTCOMES))
        assert answer.status_code == 404, answer.text


def test_an_operator_token_must_name_the_clinic(api, tokens):
    report = {"client_id": "c-1", "termination": "ongoing"}
    answer = api.post("/v1/outcomes", json=report, headers=tokens.header(OUTCOMES))
    assert answer.status_code == 422
    assert [f["path"] for f in answer.json()["fields"]] == ["clinic_id"]


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
