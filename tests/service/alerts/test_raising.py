"""Which assessments raise which alerts: one missed appointment is not two in a row."""

from __future__ import annotations

from tests.support.caseload import client_body


def _kinds(api, tokens, body) -> set[tuple[str, str | None]]:
    assert api.post("/v1/risk-assessments", json=body, headers=tokens.header()).status_code == 200
    alerts = api.get("/v1/alerts", headers=tokens.header()).json()["alerts"]
    client = body["client"]["client_id"]
    return {(a["kind"], a["outcome"]) for a in alerts if a["client_id"] == client}


def test_alerts_follow_the_signals_and_levels(api, tokens):
    assert _kinds(api, tokens, client_body("calm", therapist_id="t")) == set()
    assert _kinds(api, tokens, client_body("once", therapist_id="t", missed_last=1)) == set()
    missed = client_body("twice", therapist_id="t", sessions=4, missed_last=2)
    assert ("missed_appointments", None) in _kinds(api, tokens, missed)
    assert _kinds(api, tokens, client_body("safe", therapist_id="t", safety=True)) == {
        ("safety", None)
    }
    struggling = _kinds(api, tokens, client_body("hard", therapist_id="t", struggling=True))
    assert {("high_risk", "dropout"), ("high_risk", "poor_outcome")} <= struggling
    assert {("alliance_rupture", None), ("reliable_deterioration", None)} <= struggling
