"""CDS Hooks with PHQ-9/GAD-7 as QuestionnaireResponses: prefetched or fetched, item 9 shown."""

from __future__ import annotations

import json

import pytest

from service.cds.prefetch import OPTIONAL, PREFETCH
from service.fhir.questionnaires import PHQ9
from service.schemas import AssessmentRequest
from service.security import Scope
from tests.support.cds import hook_body
from tests.support.fhir_questionnaires import (
    example_responses,
    example_with,
    promoted_registry,
    response,
)

PATIENT = "c-001"
SAFETY = "PHQ-9 item 9 endorsed"


@pytest.fixture(scope="module")
def registry(trained, tmp_path_factory):
    """A champion the app can serve (see :func:`promoted_registry`)."""
    return promoted_registry(trained, tmp_path_factory.mktemp("registry"))


def _card(answer):
    assert answer.status_code == 200, answer.text
    (card,) = answer.json()["cards"]
    return card


def _expected(app, tokens):
    """The JSON API's assessment of the example client with PHQ-9 item 9 = 2."""
    body = json.loads(
        json.dumps(AssessmentRequest.model_config["json_schema_extra"]["examples"][0])
    )
    body["sessions"][0]["phq9_item9"] = 2
    answer = app.post("/v1/risk-assessments", json=body, headers=tokens.header(Scope.RISK_WRITE))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_discovery_asks_for_questionnaire_responses_and_item_codes(cds):
    for service in cds.discover().json()["services"]:  # every hook asks for the same
        assert service["prefetch"]["questionnaireResponses"].startswith(
            "QuestionnaireResponse?patient={{context.patientId}}"
        )
        assert "http://loinc.org|44250-9" in service["prefetch"]["observations"]
        assert "http://loinc.org|69736-7" in service["prefetch"]["observations"]
    assert set(PREFETCH) >= OPTIONAL


@pytest.mark.parametrize("source", ["prefetch", "fhir server"])
def test_responses_score_with_the_self_harm_signal(cds, app, ehr, tokens, source):
    ehr.load(example_with(*example_responses()))
    if source == "prefetch":
        body = hook_body(ehr, PATIENT, prefetch=ehr.prefetch(PATIENT))
    else:
        body = hook_body(ehr, PATIENT, fhir=True)
    card = _card(cds.call(body))
    if source == "prefetch":
        assert ehr.seen == []
    else:
        assert any(path.startswith("/fhir/QuestionnaireResponse") for path in ehr.seen)
    expected = _expected(app, tokens)
    assert card["summary"].startswith(SAFETY)
    assert card["indicator"] == "critical"
    for outcome in ("dropout", "poor_outcome"):
        assert f"{expected[outcome]['probability']:.0%}" in card["detail"]


def test_a_differing_total_is_named_on_the_card(cds, ehr):
    phq9 = response("qr-phq9", PHQ9, (3, 3, 3, 3, 3, 3, 3, 3, 0))
    ehr.load(example_with(phq9, keep_totals=True))
    card = _card(cds.call(hook_body(ehr, PATIENT, prefetch=ehr.prefetch(PATIENT))))
    assert "_Note: PHQ-9 on 2026-03-02: the total Observation" in card["detail"]
    assert not card["summary"].startswith(SAFETY)  # item 9 answered 0


def test_without_the_new_keys_or_a_fhir_server_a_card_is_still_given(cds, ehr):
    ehr.load(example_with(keep_totals=True))
    prefetch = {k: v for k, v in ehr.prefetch(PATIENT).items() if k not in OPTIONAL}
    card = _card(cds.call(hook_body(ehr, PATIENT, prefetch=prefetch)))
    assert ehr.seen == []
    assert card["summary"]


def test_a_response_with_a_missing_item_gets_no_card(cds, ehr):
    scores = [3, 2, 2, 2, 2, 2, 1, 2, None]
    ehr.load(example_with(response("qr-phq9", PHQ9, scores)))
    answer = cds.call(hook_body(ehr, PATIENT, prefetch=ehr.prefetch(PATIENT)))
    assert answer.status_code == 200, answer.text
    assert answer.json()["cards"] == []
