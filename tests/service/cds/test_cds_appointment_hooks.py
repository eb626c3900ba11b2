"""The ``appointment-book`` and ``encounter-start`` services: listed in discovery beside
``patient-view``, with the same prefetch, JWT rules, card and audit (one scoring path)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from service.audit import AuditStore
from service.cds.prefetch import PREFETCH, SERVICE_ID
from service.cds.services import APPOINTMENT_BOOK_ID, ENCOUNTER_START_ID
from service.security import Scope
from tests.support.cds import BASE_URL, hook_body, load_case

HOOKS = {APPOINTMENT_BOOK_ID: "appointment-book", ENCOUNTER_START_ID: "encounter-start"}


def _body(ehr, client_id: str, hook: str, **options):
    """A call of ``hook`` with its context (CDS Hooks 2.0 hook definitions)."""
    body = hook_body(ehr, client_id, **options)
    body["hook"] = hook
    if hook == "appointment-book":
        body["context"]["appointments"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {
                    "resource": {
                        "resourceType": "Appointment",
                        "id": "next-1",
                        "status": "proposed",
                        "start": "2030-06-01T10:00:00+02:00",
                        "participant": [
                            {
                                "actor": {"reference": f"Patient/{client_id}"},
                                "status": "needs-action",
                            }
                        ],
                    }
                }
            ],
        }
    if hook == "encounter-start":
        body["context"]["encounterId"] = "e-starting"
    return body


def test_discovery_lists_the_three_hooks_with_one_prefetch(cds):
    answer = cds.discover(signed=False)
    assert answer.status_code == 200, answer.text
    services = {s["id"]: s for s in answer.json()["services"]}
    assert {s["hook"] for s in services.values()} == {
        "patient-view",
        "appointment-book",
        "encounter-start",
    }
    for service_id, hook in HOOKS.items():
        assert services[service_id]["hook"] == hook
        assert services[service_id]["prefetch"] == PREFETCH
        assert services[service_id]["title"] and services[service_id]["description"]


@pytest.mark.parametrize("service_id", list(HOOKS))
def test_each_hook_answers_the_patient_view_card_and_records_it(
    service_id, cds, app, ehr, cases, tokens, tmp_path
):
    client, _ = cases[3]
    client_id = client["client_id"]
    load_case(ehr, cases[3], sessions=4)
    prefetch = ehr.prefetch(client_id)
    viewed = cds.call(hook_body(ehr, client_id, prefetch=prefetch))
    answer = cds.call(
        _body(ehr, client_id, HOOKS[service_id], prefetch=prefetch), service=service_id
    )
    assert answer.status_code == 200, answer.text
    (card,) = answer.json()["cards"]
    (seen,) = viewed.json()["cards"]
    assert card["detail"] == seen["detail"] and card["summary"] == seen["summary"]
    assert card["indicator"] == seen["indicator"]
    link, _caseload = card["links"]
    assessment_id = urlsplit(link["url"]).path.rsplit("/", 1)[1]
    stored = app.get(
        f"/v1/risk-assessments/{assessment_id}", headers=tokens.header(Scope.AUDIT_READ)
    )
    assert stored.status_code == 200 and stored.json()["response"]["client_id"] == client_id

    feedback = {"card": card["uuid"], "outcome": "accepted"}
    feedback["outcomeTimestamp"] = "2026-06-01T10:00:00Z"
    # The card was issued by this service: feedback goes to it, not to patient-view.
    assert cds.feedback([feedback], service=SERVICE_ID).status_code == 422
    answer = cds.feedback([feedback], service=service_id)
    assert answer.status_code == 200, answer.text
    with AuditStore.open(f"sqlite:///{tmp_path / 'audit.db'}") as store:
        (kept,) = store.cards.feedback(service_id=service_id)
    assert kept.assessment_id == assessment_id


@pytest.mark.parametrize("service_id", list(HOOKS))
def test_the_same_jwt_rules_hold(service_id, cds, ehr, cases):
    client, _ = cases[4]
    load_case(ehr, cases[4], sessions=3)
    body = _body(ehr, client["client_id"], HOOKS[service_id], fhir=True)
    # A token whose aud is another service's URL is refused, with the same bare 401.
    wrong_audience = ehr.token(f"{BASE_URL}/cds-services/{SERVICE_ID}")
    refused = cds.call(body, token=wrong_audience, service=service_id)
    assert refused.status_code == 401
    assert refused.json()["code"] == "unauthorized"
    assert cds.call(body, token="not-a-jwt", service=service_id).status_code == 401
    assert cds.call(body, service=service_id).status_code == 200


@pytest.mark.parametrize(
    ("service_id", "change", "message"),
    [
        (ENCOUNTER_START_ID, lambda b: b["context"].pop("encounterId"), "encounterId"),
        (APPOINTMENT_BOOK_ID, lambda b: b["context"].pop("appointments"), "appointments"),
        (
            APPOINTMENT_BOOK_ID,
            lambda b: b["context"].update(appointments={"resourceType": "Appointment"}),
            "Bundle",
        ),
        # A well-formed call of another hook, at the wrong service.
        (APPOINTMENT_BOOK_ID, lambda b: b.update(hook="patient-view"), "appointment-book hook"),
        (
            SERVICE_ID,
            lambda b: (b.update(hook="encounter-start"), b["context"].update(encounterId="e-1")),
            "patient-view hook",
        ),
    ],
)
def test_a_context_the_hook_does_not_define_is_refused(service_id, change, message, cds, ehr):
    hook = HOOKS.get(service_id, "patient-view")
    body = _body(ehr, "c-001", hook, fhir=True)
    change(body)
    answer = cds.call(body, service=service_id)
    assert answer.status_code == 422, answer.text
    assert message in answer.text
