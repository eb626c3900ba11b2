"""FHIR out: RiskAssessments and their Bundle validate with R4B and keep ras-1/ras-2 and bdl."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.riskassessment import RiskAssessment
from hypothesis import given, settings
from hypothesis import strategies as st

from service.fhir import (
    check_bundle_invariants,
    check_ras_invariants,
    result_bundle,
    risk_assessments,
)
from service.fhir.codes import (
    ASSESSMENT_ID_SYSTEM,
    OUR_SYSTEM,
    PROBABILITY_INTERVAL_URL,
    RISK_PROBABILITY,
)
from service.schemas import AssessmentResponse

ROOT = Path(__file__).resolve().parents[3]
WHEN = datetime(2026, 3, 9, 11, 30, tzinfo=UTC)
BASIS = [{"reference": "Encounter/e-1"}, {"reference": "Observation/o-1"}]


def _factor(effect: float, text: str) -> dict[str, Any]:
    direction = "raises" if effect > 0 else "lowers"
    return {
        "feature": "attendance",
        "label": "x",
        "value": "y",
        "effect": effect,
        "direction": direction,
        "text": text,
    }


def _response(dropout: float = 0.41, poor: float = 0.08, **changes: Any) -> AssessmentResponse:
    body = {
        "assessment_id": str(uuid.uuid4()),
        "client_id": "c-001",
        "as_of_session": 2,
        "model": {"name": "dropout-risk", "version": "7", "trained_at": None},
        "dropout": {
            "probability": dropout,
            "probability_interval": [round(dropout - 0.05, 4), round(dropout + 0.04, 4)],
            "risk_level": "high",
            "outcome": "dropout",
            "base_rate": 0.2,
            "factors": [
                _factor(0.12, "Missed appointment at session 2."),
                _factor(-0.03, "Client-rated alliance is strong."),
            ],
            "explanation": {
                "base_probability": 0.2,
                "concepts": {"attendance": 0.12, "client_alliance": -0.03},
                "data_gaps": dropout - 0.29,
            },
        },
        "poor_outcome": {
            "probability": poor,
            "probability_interval": [poor, poor],
            "risk_level": "low",
            "outcome": "no reliable recovery",
            "factors": [],
            "explanation": {"base_probability": poor, "concepts": {}, "data_gaps": 0.0},
        },
        "signals": [{"code": "srs_below_cutoff", "text": "SRS below 36 at session 1."}],
        "data_gaps": ["Session Rating Scale"],
        "warnings": [],
    } | changes
    return AssessmentResponse.model_validate(body)


def _made(response: AssessmentResponse | None = None) -> list[dict[str, Any]]:
    return risk_assessments(
        response or _response(),
        patient_reference="Patient/c-001",
        basis_references=BASIS,
        occurrence=WHEN,
    )


def test_one_risk_assessment_per_outcome_with_the_assessment_in_it():
    response = _response()
    dropout, poor = _made(response)
    for resource, risk, code in (
        (dropout, response.dropout, "dropout"),
        (poor, response.poor_outcome, "poor-outcome"),
    ):
        assert resource["status"] == "final"
        assert resource["subject"] == {"reference": "Patient/c-001"}
        assert resource["identifier"] == [
            {"system": ASSESSMENT_ID_SYSTEM, "value": response.assessment_id}
        ]
        assert resource["occurrenceDateTime"] == "2026-03-09T11:30:00+00:00"
        assert resource["basis"] == BASIS
        assert resource["method"]["text"] == "dropout-risk model version 7"
        assert resource["method"]["coding"][0]["version"] == "7"
        (prediction,) = resource["prediction"]
        coding = prediction["outcome"]["coding"][0]
        assert (coding["system"], coding["code"]) == (OUR_SYSTEM, code)
        # The text names this client's outcome in a clinician's words.
        assert prediction["outcome"]["text"].lower() == risk.outcome
        assert prediction["probabilityDecimal"] == risk.probability
        # The interval rides in our extension (R4 allows probabilityDecimal or -Range).
        assert "probabilityRange" not in prediction
        (interval,) = prediction["extension"]
        assert interval["url"] == PROBABILITY_INTERVAL_URL
        value_range = interval["valueRange"]
        low, high = value_range["low"]["value"], value_range["high"]["value"]
        assert [low, high] == list(risk.probability_interval)
        assert low <= risk.probability <= high
        qualitative = prediction["qualitativeRisk"]["coding"][0]
        assert (qualitative["system"], qualitative["code"]) == (RISK_PROBABILITY, risk.risk_level)
        assert resource["note"][0]["text"].startswith("Decision support, not a diagnosis")
        assert "SRS below 36" in resource["note"][1]["text"]
    assert dropout["prediction"][0]["rationale"] == (
        "Top factors: Missed appointment at session 2. Client-rated alliance is strong."
    )
    assert "rationale" not in poor["prediction"][0]  # no factors, no rationale
    # relative to the training clients' rate, when the model reports it
    assert dropout["prediction"][0]["relativeRisk"] == round(response.dropout.probability / 0.2, 2)
    assert "relativeRisk" not in poor["prediction"][0]
    assert dropout["id"] != poor["id"]


def test_ids_are_stable_for_an_assessment_and_subject_can_be_a_reference():
    response = _response()
    assert [r["id"] for r in _made(response)] == [r["id"] for r in _made(response)]
    (resource, _) = risk_assessments(
        response,
        patient_reference={"identifier": {"system": "urn:mrn", "value": "123"}},
        occurrence=WHEN,
    )
    assert resource["subject"] == {"identifier": {"system": "urn:mrn", "value": "123"}}
    assert "basis" not in resource


def test_warnings_become_notes():
    warning = "7 sessions were sent; this estimate is as of session 5"
    (resource, _) = _made(_response(warnings=[warning]))
    assert {"text": warning} in resource["note"]


@settings(max_examples=60, deadline=None)
@given(
    st.floats(0, 1),
    st.floats(0, 1),
    st.sampled_from(["low", "moderate", "high"]),
)
def test_every_produced_resource_validates_with_r4b_and_keeps_the_invariants(dropout, poor, level):
    response = _response(dropout, poor)
    response.poor_outcome.risk_level = level
    resources = _made(response)
    bundle = result_bundle(resources, timestamp=WHEN)
    Bundle.model_validate(bundle)
    assert check_bundle_invariants(bundle) == []
    assert bundle["type"] == "collection" and "total" not in bundle
    for entry, resource in zip(bundle["entry"], resources, strict=True):
        assert entry == {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
        RiskAssessment.model_validate(resource)
        assert check_ras_invariants(resource) == []


@pytest.mark.parametrize(
    ("prediction", "rule"),
    [
        ({"probabilityDecimal": 1.5}, "ras-2"),
        ({"probabilityDecimal": -0.1}, "ras-2"),
        (
            {
                "probabilityRange": {
                    "low": {"value": 10, "unit": "%"},
                    "high": {"value": 20, "code": "%", "system": "http://unitsofmeasure.org"},
                }
            },
            "ras-1",
        ),
        (
            {
                "probabilityRange": {
                    "high": {"value": 120, "code": "%", "system": "http://unitsofmeasure.org"}
                }
            },
            "ras-1",
        ),
    ],
)
def test_the_invariant_checks_catch_violations(prediction, rule):
    resource = copy.deepcopy(_made()[0])
    resource["prediction"] = [prediction]
    RiskAssessment.model_validate(resource)  # R4B itself lets these through
    problems = check_ras_invariants(resource)
    assert len(problems) == 1 and problems[0].startswith(rule)


def test_a_percentage_range_passes_ras_1():
    resource = copy.deepcopy(_made()[0])
    percent = {"code": "%", "system": "http://unitsofmeasure.org", "unit": "%"}
    resource["prediction"] = [
        {"probabilityRange": {"low": {"value": 30, **percent}, "high": {"value": 45, **percent}}}
    ]
    assert check_ras_invariants(resource) == []


def test_the_bundle_checks_catch_total_and_search_outside_a_search():
    bundle = result_bundle(_made(), timestamp=WHEN)
    broken = copy.deepcopy(bundle)
    broken["total"] = 2
    broken["entry"][1]["search"] = {"mode": "match"}
    Bundle.model_validate(broken)  # R4B does not check bdl-1 or bdl-2
    assert [p[:5] for p in check_bundle_invariants(broken)] == ["bdl-1", "bdl-2"]
    searchset = {**broken, "type": "searchset"}
    assert check_bundle_invariants(searchset) == []


def test_an_invalid_resource_is_refused_rather_than_sent():
    with pytest.raises(ValueError, match="Bundle"):
        result_bundle([{"resourceType": "RiskAssessment", "id": "x"}], timestamp=WHEN)


def _json_blocks(text: str) -> list[Any]:
    return [json.loads(block.split("```", 1)[0]) for block in text.split("```json\n")[1:]]


def test_the_documented_examples_are_the_code_s_own():
    from fhir.resources.R4B.operationoutcome import OperationOutcome

    from service.fhir.examples import EXAMPLE_BUNDLE

    error, request, answer = _json_blocks((ROOT / "docs" / "fhir.md").read_text())
    OperationOutcome.model_validate(error)
    assert request == EXAMPLE_BUNDLE
    Bundle.model_validate(answer)
    assert check_bundle_invariants(answer) == []
    for entry in answer["entry"]:
        RiskAssessment.model_validate(entry["resource"])
        assert check_ras_invariants(entry["resource"]) == []
