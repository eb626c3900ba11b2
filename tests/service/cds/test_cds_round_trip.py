"""The CDS Hooks round trip against a scripted EHR: discovery, the hook, feedback.

The hook is called with prefetch, with the EHR's FHIR server instead (paged searches, the
lent token), with part of each, and with neither (412). Its card must show what the JSON
API says about the same client, and feedback must be stored with the card's assessment.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

import pytest

from features.instruments import MEASURE_COLUMNS
from service.audit import AuditStore
from service.cds.cards import OVERRIDE_SYSTEM
from service.cds.prefetch import PREFETCH, SERVICE_ID
from service.observability import JsonFormatter
from service.security import Scope
from tests.support.cds import BASE_URL, hook_body, load_case


def _json_api_assessment(app, tokens, body):
    answer = app.post("/v1/risk-assessments", json=body, headers=tokens.header(Scope.RISK_WRITE))
    assert answer.status_code == 200, answer.text
    return answer.json()


def _assessment_of(report_url):
    return urlsplit(report_url).path.rsplit("/", 1)[1]


def _scores(session):
    return sum(session[m] is not None for m in MEASURE_COLUMNS)


def _one_card(answer):
    assert answer.status_code == 200, answer.text
    (card,) = answer.json()["cards"]
    return card


def test_discovery_lists_the_patient_view_service_with_its_prefetch(cds):
    for signed in (False, True):
        answer = cds.discover(signed=signed)
        assert answer.status_code == 200, answer.text
        services = {s["id"]: s for s in answer.json()["services"]}
        service = services[SERVICE_ID]
        assert service["hook"] == "patient-view"
        assert service["title"] and service["description"]
        assert service["prefetch"] == PREFETCH
    templates = PREFETCH.values()
    assert "Patient/{{context.patientId}}" in templates
    observations = PREFETCH["observations"]
    assert (
        "http://loinc.org|44261-6" in observations and "http://loinc.org|70274-6" in observations
    )


def test_a_hook_call_with_prefetch_answers_the_json_api_s_assessment(
    cds, app, ehr, cases, tokens, registry
):
    client, _ = cases[0]
    body = load_case(ehr, cases[0], sessions=4)
    answer = cds.call(
        hook_body(ehr, client["client_id"], prefetch=ehr.prefetch(client["client_id"]))
    )
    card = _one_card(answer)
    assert ehr.seen == []  # everything came with the call

    expected = _json_api_assessment(app, tokens, body)
    for outcome in ("dropout", "poor_outcome"):
        assert f"{expected[outcome]['probability']:.0%}" in card["detail"]
    levels = {expected["dropout"]["risk_level"], expected["poor_outcome"]["risk_level"]}
    top = "high" if "high" in levels else "moderate" if "moderate" in levels else "low"
    assert card["indicator"] == {"low": "info", "moderate": "warning", "high": "critical"}[top]
    assert len(card["summary"]) < 140
    assert card["source"]["label"] == f"dropout-risk model v{registry.version}"
    assert card["source"]["url"].startswith(f"{BASE_URL}/models/{registry.version}/card")
    assert {r["system"] for r in card["overrideReasons"]} == {OVERRIDE_SYSTEM}
    assert all(r["display"] for r in card["overrideReasons"])
    link, caseload = card["links"]
    assert link["type"] == "absolute" and link["url"].startswith(f"{BASE_URL}/reports/")
    assert caseload["url"].startswith(f"{BASE_URL}/caseload?clinic_id=")
    assert "practitioner=" in caseload["url"] and "signature=" in caseload["url"]
    page = app.get(caseload["url"].removeprefix(BASE_URL))
    assert page.status_code == 200 and client["client_id"] in page.text
    assessment_id = _assessment_of(link["url"])
    stored = app.get(
        f"/v1/risk-assessments/{assessment_id}", headers=tokens.header(Scope.AUDIT_READ)
    )
    assert stored.status_code == 200
    assert stored.json()["response"]["client_id"] == client["client_id"]
    assert "Decision support, not a diagnosis" in card["detail"]


def test_without_prefetch_the_fhir_server_is_read_page_by_page(cds, ehr, cases):
    client, _ = cases[1]
    load_case(ehr, cases[1], sessions=5)
    with_prefetch = _one_card(
        cds.call(hook_body(ehr, client["client_id"], prefetch=ehr.prefetch(client["client_id"])))
    )
    fetched = _one_card(cds.call(hook_body(ehr, client["client_id"], fhir=True)))

    assert fetched["detail"] == with_prefetch["detail"]
    assert fetched["summary"] == with_prefetch["summary"]
    assert ehr.refused == 0  # every request carried the lent token
    assert any("_offset=" in path for path in ehr.seen)  # next links were followed
    assert {path.split("?")[0] for path in ehr.seen} >= {
        f"/fhir/Patient/{client['client_id']}",
        "/fhir/Observation",
        "/fhir/Encounter",
        "/fhir/Appointment",
    }


def test_only_what_prefetch_lacks_is_fetched(cds, ehr, cases):
    client, _ = cases[2]
    load_case(ehr, cases[2], sessions=3)
    prefetch = ehr.prefetch(client["client_id"])
    partial = {"patient": prefetch["patient"], "encounters": prefetch["encounters"]}
    partial["appointments"] = {"resourceType": "OperationOutcome", "issue": []}  # an EHR error
    card = _one_card(cds.call(hook_body(ehr, client["client_id"], prefetch=partial, fhir=True)))
    assert card["summary"]
    fetched = {path.split("?")[0] for path in ehr.seen}
    assert fetched == {
        "/fhir/Observation",
        "/fhir/Appointment",
        "/fhir/QuestionnaireResponse",
        "/fhir/EpisodeOfCare",
    }


def test_a_paged_prefetch_is_continued_on_the_fhir_server(cds, ehr, cases):
    case = next(c for c in cases[3:] if sum(_scores(row) for row in c[1][:6]) > 6)
    client, _ = case
    load_case(ehr, case, sessions=6)
    whole = _one_card(
        cds.call(hook_body(ehr, client["client_id"], prefetch=ehr.prefetch(client["client_id"])))
    )
    prefetch = ehr.prefetch(client["client_id"])
    observations = prefetch["observations"]["entry"]
    assert len(observations) > 3
    prefetch["observations"]["entry"] = observations[:3]
    query = PREFETCH["observations"].replace("{{context.patientId}}", client["client_id"])
    prefetch["observations"]["link"] = [
        {"relation": "next", "url": f"{ehr.base_url}/fhir/{query}&_offset=3"}
    ]
    paged = _one_card(cds.call(hook_body(ehr, client["client_id"], prefetch=prefetch, fhir=True)))
    assert paged["detail"] == whole["detail"]
    assert all(path.startswith("/fhir/Observation?") for path in ehr.seen)


@pytest.mark.parametrize(
    "access",
    ["none", "wrong_token", "closed_port", "other_origin_next_link"],
)
def test_missing_data_that_cannot_be_fetched_is_412(cds, ehr, cases, access):
    client, _ = cases[4]
    load_case(ehr, cases[4], sessions=3)
    patient_id = client["client_id"]
    if access == "none":
        body = hook_body(ehr, patient_id)
    elif access == "wrong_token":
        body = hook_body(ehr, patient_id, fhir=True, access_token="not-the-lent-token")
    elif access == "closed_port":
        body = hook_body(ehr, patient_id, fhir=True)
        body["fhirServer"] = "http://127.0.0.1:9/fhir"
    else:
        prefetch = ehr.prefetch(patient_id)
        prefetch["encounters"]["link"] = [
            {"relation": "next", "url": "http://localhost:1/fhir/Encounter?_offset=3"}
        ]
        body = hook_body(ehr, patient_id, prefetch=prefetch, fhir=True)
    answer = cds.call(body)
    assert answer.status_code == 412, answer.text
    assert answer.json()["code"] == "precondition_failed"
    if access == "other_origin_next_link":
        assert ehr.seen == []  # the lent token never left for the other origin


def test_a_record_that_cannot_be_scored_gets_no_card(cds, ehr, cases):
    client, _ = cases[5]
    load_case(ehr, cases[5], sessions=2)
    prefetch = ehr.prefetch(client["client_id"])
    no_sessions = prefetch | {"encounters": None, "appointments": None}
    answer = cds.call(hook_body(ehr, client["client_id"], prefetch=no_sessions))
    assert answer.status_code == 200 and answer.json() == {"cards": []}

    other = cases[6][0]["client_id"]  # the EHR sent this client's data for another patient
    answer = cds.call(hook_body(ehr, other, prefetch=prefetch))
    assert answer.status_code == 200 and answer.json() == {"cards": []}


def test_an_unknown_service_or_hook_is_refused(cds, ehr, cases):
    client, _ = cases[0]
    body = hook_body(ehr, client["client_id"], prefetch={})
    assert cds.call(body, service="no-such-service").status_code == 404
    wrong_hook = body | {"hook": "order-sign"}
    answer = cds.call(wrong_hook)
    assert answer.status_code == 422 and answer.json()["fields"][0]["path"] == "hook"
    no_server = body | {"fhirAuthorization": hook_body(ehr, "x", fhir=True)["fhirAuthorization"]}
    answer = cds.call(no_server)
    assert answer.status_code == 422
    assert "opaque" not in answer.text and ehr.access_token not in answer.text


def test_feedback_is_stored_with_the_card_s_assessment(cds, ehr, cases, tmp_path):
    client, _ = cases[7]
    load_case(ehr, cases[7], sessions=4)
    card = _one_card(
        cds.call(hook_body(ehr, client["client_id"], prefetch=ehr.prefetch(client["client_id"])))
    )
    assessment_id = _assessment_of(card["links"][0]["url"])
    reason = card["overrideReasons"][1]
    answer = cds.feedback(
        [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "outcomeTimestamp": "2026-06-01T10:00:00Z",
            },
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {"system": reason["system"], "code": reason["code"]},
                    "userComment": "Zoë said she is moving away.",
                },
                "outcomeTimestamp": "2026-06-01T10:05:00+02:00",
            },
        ]
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"stored": 2}

    unknown = {"card": "0b9f4ad6-0000-4000-8000-000000000000", "outcome": "accepted"}
    unknown["outcomeTimestamp"] = "2026-06-01T10:00:00Z"
    answer = cds.feedback([{**unknown, "card": card["uuid"]}, unknown])
    assert answer.status_code == 422
    assert [f["path"] for f in answer.json()["fields"]] == ["feedback[1].card"]
    assert cds.feedback([unknown], service="no-such-service").status_code == 404

    with AuditStore.open(f"sqlite:///{tmp_path / 'audit.db'}") as store:
        stored = sorted(store.cards.feedback(service_id=SERVICE_ID), key=lambda f: f.outcome)
    assert [f.outcome for f in stored] == ["accepted", "overridden"]  # the 422 stored nothing
    assert {f.assessment_id for f in stored} == {assessment_id}
    assert stored[1].override_code == reason["code"]
    assert stored[1].user_comment == "Zoë said she is moving away."
    assert stored[1].outcome_timestamp.isoformat() == "2026-06-01T08:05:00+00:00"


def test_slow_or_endless_fhir_searches_are_cut_short(start_app, ehr, cases, monkeypatch):
    from service.cds import fetch
    from tests.support.cds import CdsClient

    client, _ = cases[8]
    load_case(ehr, cases[8], sessions=6)
    cds = CdsClient(start_app(cds_fhir_timeout_seconds=0.5), ehr)
    ehr.delay = 0.4  # each page in time, all of them not
    answer = cds.call(hook_body(ehr, client["client_id"], fhir=True))
    assert answer.status_code == 412
    assert answer.elapsed.total_seconds() < 2

    ehr.delay = 0.0
    monkeypatch.setattr(fetch, "MAX_PAGES", 1)  # every search here needs more than a page
    assert cds.call(hook_body(ehr, client["client_id"], fhir=True)).status_code == 412


def test_a_hook_call_logs_neither_the_patient_nor_the_tokens(cds, ehr, cases, caplog):
    caplog.set_level(logging.DEBUG)
    client, _ = cases[9]
    load_case(ehr, cases[9], sessions=4)
    jwt = ehr.token(f"{BASE_URL}/cds-services/{SERVICE_ID}")
    answer = cds.call(hook_body(ehr, client["client_id"], fhir=True), token=jwt)
    card = _one_card(answer)
    text = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    for secret in (client["client_id"], ehr.access_token, jwt, card["uuid"]):
        assert secret not in text, f"{secret!r} reached the log"
    assert re.findall(r"\d+%", card["summary"])
    for percent in re.findall(r"\d+%", card["detail"]):
        assert percent not in text


def test_the_card_s_links_open_without_an_api_token(cds, app, ehr, cases):
    client, _ = cases[0]
    load_case(ehr, cases[0], sessions=3)
    card = _one_card(
        cds.call(hook_body(ehr, client["client_id"], prefetch=ehr.prefetch(client["client_id"])))
    )
    for url in (card["links"][0]["url"], card["source"]["url"]):
        parts = urlsplit(url)
        page = app.get(f"{parts.path}?{parts.query}")  # as the clinician's browser: no token
        assert page.status_code == 200, (parts.path, page.text[:200])
