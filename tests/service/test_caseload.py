"""The clinician's day, as the issue's "done when" says, on SQLite and PostgreSQL.

Scoring a few dozen clients of two therapists (with a safety signal and several high-risk
clients) gives therapist A a caseload of A's open clients only, safety first; a reported
outcome takes a client off it; acknowledging an alert records the actor and the note;
dismissing without a reason is 422; repeated high scores raise no duplicate alerts; another
clinic's token or signed link cannot see or act on the clinic's alerts (404).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.reports.links import LinkSigner, caseload_query
from tests.support.caseload import busy_caseload, save_clinic_tokens
from tests.support.tokens import bearer

LINK_SECRET = "caseload-test-link-secret-of-32-bytes-or-more"


@pytest.fixture
def day(registry, make_settings, audit_url) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The app on ``audit_url`` with a token of clinic north and one of clinic south."""
    from service.app import create_app

    tokens = save_clinic_tokens(audit_url, {"north": ["north"], "south": ["south"]})
    settings = make_settings(
        tracking_uri=registry.tracking_uri,
        database_url=audit_url,
        api_tokens=[],
        token_refresh_seconds=0.0,
        report_link_secret=LINK_SECRET,
        safety_protocol="Call the duty clinician on 555-0100 and follow the risk protocol.",
    )
    with TestClient(create_app(settings)) as api:
        yield api, tokens


def _score(api: TestClient, token: str, bodies: list[dict]) -> None:
    answer = api.post(
        "/v1/risk-assessments/batch", json={"assessments": bodies}, headers=bearer(token)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["failed"] == 0


def test_the_clinicians_day(day):
    api, tokens = day
    north, south = bearer(tokens["north"]), bearer(tokens["south"])
    bodies = busy_caseload()
    _score(api, tokens["north"], bodies)
    struggling = [b for b in bodies if b["client"]["client_id"].endswith(("-01", "-05", "-08"))]
    _score(api, tokens["north"], struggling)  # high again: no second alert

    answer = api.get("/v1/caseload", params={"therapist_id": "t-a"}, headers=north)
    assert answer.status_code == 200, answer.text
    clients = answer.json()["clients"]
    assert {c["therapist_id"] for c in clients} == {"t-a"}
    assert len(clients) == 15
    assert clients[0]["client_id"] == "north-t-a-03"
    assert clients[0]["urgency"] == "safety"
    assert clients[0]["signals"][0]["code"] == "self_harm_item_endorsed"
    safety = next(a for a in clients[0]["alerts"] if a["kind"] == "safety")
    assert safety["checklist"]["protocol"].startswith("Call the duty clinician")
    urgencies = [c["urgency"] for c in clients]
    assert urgencies == sorted(urgencies, key=["safety", "high risk", "alerts", "none"].index)
    high = {c["client_id"] for c in clients if c["urgency"] == "high risk"}
    assert high >= {"north-t-a-01", "north-t-a-05", "north-t-a-08"}
    again = next(c for c in clients if c["client_id"] == "north-t-a-01")
    assert again["dropout"]["change"] is not None and len(again["trend"]) == 2
    first = next(c for c in clients if c["client_id"] == "north-t-a-00")
    assert first["dropout"]["change"] is None

    alerts = api.get("/v1/alerts", params={"state": "open"}, headers=north).json()["alerts"]
    per_problem = Counter((a["client_id"], a["kind"], a["outcome"]) for a in alerts)
    assert per_problem and max(per_problem.values()) == 1
    assert ("north-t-a-11", "missed_appointments", None) in per_problem
    metrics = api.get("/metrics", headers=north).text
    assert 'dropout_risk_alerts_raised_total{kind="safety"} 2.0' in metrics

    outcome = {"client_id": "north-t-a-07", "termination": "dropout", "end_date": "2026-03-30"}
    assert api.post("/v1/outcomes", json=outcome, headers=north).status_code == 201
    after = api.get("/v1/caseload", params={"therapist_id": "t-a"}, headers=north).json()
    assert "north-t-a-07" not in {c["client_id"] for c in after["clients"]}
    assert len(after["clients"]) == 14

    alert_id = safety["alert_id"]
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        refused = api.post(f"/v1/alerts/{alert_id}/dismiss", json=body, headers=north)
        assert refused.status_code == 422, body
    for path, body in (("acknowledge", {"note": "x"}), ("dismiss", {"reason": "mine now"})):
        acted = api.post(f"/v1/alerts/{alert_id}/{path}", json=body, headers=south)
        assert acted.status_code == 404
    assert api.get("/v1/alerts", headers=south).json()["alerts"] == []
    assert api.get("/v1/caseload", headers=south).json()["clients"] == []
    south_link = _link("south", practitioner="dr-south")
    page = api.get(f"/caseload?{south_link}")
    assert page.status_code == 200 and "north-t-a" not in page.text
    form = dict(_fields(south_link), reason="mine now")
    acted = api.post(f"/caseload/alerts/{alert_id}/dismiss", data=form, follow_redirects=False)
    assert acted.status_code == 404

    acknowledged = api.post(
        f"/v1/alerts/{alert_id}/acknowledge", json={"note": "Called her today."}, headers=north
    )
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json() | {"acted_at": None} == safety | {
        "state": "acknowledged",
        "acted_by": "north",
        "note": "Called her today.",
        "acted_at": None,
    }
    listed = api.get("/v1/alerts", params={"state": "acknowledged"}, headers=north).json()
    assert [a["alert_id"] for a in listed["alerts"]] == [alert_id]

    clinic = api.get("/v1/caseload", headers=north).json()
    assert len(clinic["clients"]) == 29
    loads = {load["therapist_id"]: load for load in clinic["therapists"]}
    assert set(loads) == {"t-a", "t-b"}
    assert loads["t-a"]["open_clients"] == 14
    assert loads["t-a"]["alerts"]["acknowledged"] == 1
    assert sum(loads["t-b"]["alerts_per_week"].values()) >= 4


def _link(clinic_id: str, *, therapist_id: str | None = None, practitioner: str | None = None):
    signer = LinkSigner(LINK_SECRET.encode())
    return caseload_query(
        signer, clinic_id=clinic_id, therapist_id=therapist_id, practitioner=practitioner
    )


def _fields(query: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(query))
