"""The caseload page: who may see it, who may act from it, and what its forms refuse."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl

import pytest
from fastapi.testclient import TestClient

from service.reports.links import LinkSigner, caseload_query
from service.security import Scope
from tests.support.caseload import client_body

LINK_SECRET = "caseload-page-test-link-secret-of-32-bytes"


@pytest.fixture
def page_api(registry, make_settings, tmp_path) -> Iterator[TestClient]:
    from service.app import create_app

    settings = make_settings(
        tracking_uri=registry.tracking_uri,
        database_url=f"sqlite:///{tmp_path / 'audit.db'}",
        report_link_secret=LINK_SECRET,
        safety_protocol="Call the duty clinician: https://clinic.example/risk-protocol",
    )
    with TestClient(create_app(settings)) as api:
        yield api


def _link(*, clinic_id: str = "north", practitioner: str | None = None) -> str:
    signer = LinkSigner(LINK_SECRET.encode())
    return caseload_query(
        signer, clinic_id=clinic_id, therapist_id="t-a", practitioner=practitioner
    )


def _seed(api: TestClient, tokens) -> str:
    for body in (
        client_body("c-safe", therapist_id="t-a", safety=True),
        client_body("c-high", therapist_id="t-a", struggling=True),
        client_body("c-high", therapist_id="t-a", struggling=True, sessions=4),
        client_body("c-other", therapist_id="t-b"),
    ):
        answer = api.post("/v1/risk-assessments", json=body, headers=tokens.header())
        assert answer.status_code == 200, answer.text
    alerts = api.get("/v1/alerts", headers=tokens.header()).json()["alerts"]
    return next(a["alert_id"] for a in alerts if a["kind"] == "safety")


def test_the_page_lists_the_therapists_clients_safety_first(page_api, tokens):
    _seed(page_api, tokens)
    page = page_api.get("/caseload?therapist_id=t-a", headers=tokens.header(Scope.AUDIT_READ))
    assert page.status_code == 200
    text = page.text
    assert text.index("c-safe") < text.index("c-high")
    assert "c-other" not in text
    assert "since the last assessment" in text and "first assessment" in text
    assert 'href="https://clinic.example/risk-protocol"' in text  # the operator's protocol
    assert "/reports/" in text and "signature=" in text
    assert "<form" not in text  # audit:read alone cannot act
    clinic = page_api.get("/caseload", headers=tokens.header()).text
    assert "Alerts per therapist" in clinic and "c-other" in clinic and "<form" in clinic


def test_a_link_acts_as_the_practitioner_it_names(page_api, tokens):
    alert_id = _seed(page_api, tokens)
    link = _link(practitioner="dr-lee")
    page = page_api.get(f"/caseload?{link}")
    assert page.status_code == 200 and f"/caseload/alerts/{alert_id}/dismiss" in page.text
    fields = dict(parse_qsl(link))
    path = f"/caseload/alerts/{alert_id}"
    refused = page_api.post(f"{path}/dismiss", data=fields | {"reason": " "})
    assert refused.status_code == 422
    foreign = page_api.post(
        f"{path}/acknowledge", data=fields, headers={"Origin": "https://elsewhere.example"}
    )
    assert foreign.status_code == 403
    framed = page_api.post(
        f"{path}/acknowledge", data=fields, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert framed.status_code == 403
    done = page_api.post(
        f"{path}/acknowledge", data=fields | {"note": "Rang her."}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/caseload?")
    (alert,) = page_api.get(
        "/v1/alerts", params={"state": "acknowledged"}, headers=tokens.header()
    ).json()["alerts"]
    assert (alert["acted_by"], alert["note"]) == ("dr-lee", "Rang her.")


def test_a_link_naming_no_practitioner_shows_but_cannot_act(page_api, tokens):
    alert_id = _seed(page_api, tokens)
    link = _link()
    page = page_api.get(f"/caseload?{link}")
    assert page.status_code == 200 and "names no practitioner" in page.text
    assert "<form" not in page.text
    answer = page_api.post(f"/caseload/alerts/{alert_id}/acknowledge", data=dict(parse_qsl(link)))
    assert answer.status_code == 403
    tampered = dict(parse_qsl(_link(practitioner="dr-lee"))) | {"practitioner": "dr-kim"}
    assert (
        page_api.post(f"/caseload/alerts/{alert_id}/acknowledge", data=tampered).status_code == 403
    )
    assert page_api.get("/caseload").status_code == 401


def test_a_link_to_one_therapists_caseload_acts_on_that_therapists_alerts_only(page_api, tokens):
    _seed(page_api, tokens)
    body = client_body("c-b-safe", therapist_id="t-b", safety=True)
    assert page_api.post("/v1/risk-assessments", json=body, headers=tokens.header()).is_success
    alerts = page_api.get("/v1/alerts", headers=tokens.header()).json()["alerts"]
    (theirs,) = [a for a in alerts if a["client_id"] == "c-b-safe" and a["kind"] == "safety"]
    (mine,) = [a for a in alerts if a["client_id"] == "c-safe" and a["kind"] == "safety"]
    fields = dict(parse_qsl(_link(practitioner="dr-lee")))  # t-a's caseload
    other = page_api.post(f"/caseload/alerts/{theirs['alert_id']}/acknowledge", data=fields)
    assert other.status_code == 404  # t-b's client: as if it did not exist
    too_long = page_api.post(
        f"/caseload/alerts/{mine['alert_id']}/acknowledge", data=fields | {"note": "x" * 2001}
    )
    assert too_long.status_code == 422
    after = page_api.get("/v1/alerts", params={"state": "open"}, headers=tokens.header())
    still_open = {a["alert_id"] for a in after.json()["alerts"]}
    assert {theirs["alert_id"], mine["alert_id"]} <= still_open


def test_safety_rows_come_longest_waiting_first_not_by_the_models_estimate(page_api, tokens):
    for body in (
        client_body("c-first", therapist_id="t-a", safety=True),  # flagged first, lower risk
        client_body("c-later", therapist_id="t-a", safety=True, struggling=True),
    ):
        answer = page_api.post("/v1/risk-assessments", json=body, headers=tokens.header())
        assert answer.status_code == 200, answer.text
    rows = page_api.get(
        "/v1/caseload", params={"therapist_id": "t-a"}, headers=tokens.header()
    ).json()["clients"]
    first, later = (next(r for r in rows if r["client_id"] == c) for c in ("c-first", "c-later"))
    assert max(later["dropout"]["probability"], later["poor_outcome"]["probability"]) > max(
        first["dropout"]["probability"], first["poor_outcome"]["probability"]
    )  # the model ranks the later one higher ...
    order = [r["client_id"] for r in rows]
    assert order.index("c-first") < order.index("c-later")  # ... the caseload does not


def test_a_safety_alert_is_resolved_only_with_a_note_of_what_was_done(page_api, tokens):
    alert_id = _seed(page_api, tokens)
    path = f"/v1/alerts/{alert_id}/resolve"
    for body in ({}, {"note": "  "}):
        refused = page_api.post(path, json=body, headers=tokens.header())
        assert refused.status_code == 422 and refused.json()["fields"][0]["path"] == "note"
    form = dict(parse_qsl(_link(practitioner="dr-lee")))
    assert page_api.post(f"/caseload/alerts/{alert_id}/resolve", data=form).status_code == 422
    done = page_api.post(
        path, json={"note": "Safety plan made with her."}, headers=tokens.header()
    )
    assert done.status_code == 200 and done.json()["state"] == "resolved"


def test_an_alert_still_active_after_the_episode_ended_stays_on_its_therapists_page(
    page_api, tokens
):
    alert_id = _seed(page_api, tokens)  # c-safe's safety alert, therapist t-a
    ended = {"client_id": "c-safe", "clinic_id": "north", "termination": "dropout",
             "end_date": "2026-03-30"}  # fmt: skip
    assert page_api.post("/v1/outcomes", json=ended, headers=tokens.header()).status_code == 201
    caseload = page_api.get(
        "/v1/caseload", params={"therapist_id": "t-a"}, headers=tokens.header()
    ).json()
    assert "c-safe" not in {c["client_id"] for c in caseload["clients"]}
    assert [a["alert_id"] for a in caseload["unlisted_alerts"]][:1] == [alert_id]  # safety 1st
    other = page_api.get(
        "/v1/caseload", params={"therapist_id": "t-b"}, headers=tokens.header()
    ).json()
    assert alert_id not in {a["alert_id"] for a in other["unlisted_alerts"]}
    page = page_api.get("/caseload?therapist_id=t-a", headers=tokens.header()).text
    unlisted = page[page.index("Alerts of clients not on this caseload") :]
    assert "c-safe" in unlisted and f"/caseload/alerts/{alert_id}/resolve" in unlisted


def test_high_risk_is_urgent_while_rising_or_unacknowledged_never_by_a_hidden_rise(
    page_api, tokens
):
    for sessions in (2, 4):  # high at session 2 (its alerts raised then), still high at 4
        body = client_body("c-steady", therapist_id="t-a", struggling=True, sessions=sessions)
        assert page_api.post("/v1/risk-assessments", json=body, headers=tokens.header()).is_success

    def row() -> dict:
        (only,) = page_api.get(
            "/v1/caseload", params={"therapist_id": "t-a"}, headers=tokens.header()
        ).json()["clients"]
        return only

    assert row()["urgency"] == "high risk"  # its high-risk alerts are not acknowledged yet
    page = page_api.get("/caseload?therapist_id=t-a", headers=tokens.header()).text
    assert "High risk, rising or not yet acknowledged" in page
    for alert in row()["alerts"]:
        if alert["kind"] == "high_risk":
            path = f"/v1/alerts/{alert['alert_id']}/acknowledge"
            assert page_api.post(path, json={}, headers=tokens.header()).status_code == 200
    after = row()
    shown_up = [
        after[o]["risk_level"] == "high" and round(after[o]["change"] * 100) >= 1
        for o in ("dropout", "poor_outcome")
    ]
    # Acknowledged: urgent again only for a rise the page's arrow shows (1 point or more).
    assert (after["urgency"] == "high risk") == any(shown_up), after
