"""POST /fhir/r4/$assess-dropout-risk: same scores as the JSON API, audited, OperationOutcomes."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.riskassessment import RiskAssessment
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.fhir import check_bundle_invariants, check_ras_invariants, request_from_bundle
from service.fhir.codes import ASSESSMENT_ID_SYSTEM
from service.fhir.examples import EXAMPLE_BUNDLE
from service.security import Scope
from tests.support.fhir_bundles import client_bundle, entry_of, json_request
from tests.support.fhir_mutations import mutate

URL = "/fhir/r4/$assess-dropout-risk"
FHIR_JSON = "application/fhir+json"
RISK = Scope.RISK_WRITE


def _post(api, tokens, bundle: Any, **headers: str):
    return api.post(
        URL,
        content=json.dumps(bundle),
        headers={"Content-Type": FHIR_JSON, **tokens.header(RISK), **headers},
    )


def _assessments(answer) -> list[dict[str, Any]]:
    """The RiskAssessments of a 200 answer, after checking all of it is valid R4."""
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == FHIR_JSON
    bundle = answer.json()
    Bundle.model_validate(bundle)
    assert check_bundle_invariants(bundle) == []
    resources = [entry["resource"] for entry in bundle["entry"]]
    for resource in resources:
        RiskAssessment.model_validate(resource)
        assert check_ras_invariants(resource) == []
    return resources


def _outcome(answer, status: int) -> dict[str, str]:
    """The issues of an OperationOutcome answer: expression -> diagnostics."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == FHIR_JSON
    body = answer.json()
    OperationOutcome.model_validate(body)
    assert all(issue["severity"] == "error" for issue in body["issue"])
    return {issue["expression"][0]: issue["diagnostics"] for issue in body["issue"]}


def test_fhir_and_json_give_the_same_scores_for_the_same_client(api, tokens, synthetic_clients):
    compared = 0
    for number, (client, sessions) in enumerate(synthetic_clients[:36]):
        cut = sessions[: 1 + number % min(len(sessions), 8)]  # from session 1 to past landmark 5
        body = json_request(client, cut)
        expected = api.post("/v1/risk-assessments", json=body, headers=tokens.header(RISK))
        assert expected.status_code == 200, expected.text
        expected = expected.json()
        bundle = client_bundle(
            client,
            cut,
            link="date" if number % 3 == 0 else "encounter",
            bundle_type="searchset" if number % 2 else "collection",
            shuffle_seed=number,
        )
        dropout, poor = _assessments(_post(api, tokens, bundle))
        for resource, outcome in ((dropout, "dropout"), (poor, "poor_outcome")):
            (prediction,) = resource["prediction"]
            assert prediction["probabilityDecimal"] == expected[outcome]["probability"], number
            level = prediction["qualitativeRisk"]["coding"][0]["code"]
            assert level == expected[outcome]["risk_level"], number
            assert resource["subject"] == {"reference": f"Patient/{client['client_id']}"}
        compared += 1
    assert compared >= 30
    assert len({len(s) for _, s in synthetic_clients[:36]}) > 3  # various session counts


def test_the_answer_names_what_was_used_and_how_it_was_made(api, tokens, registry):
    dropout, poor = _assessments(_post(api, tokens, EXAMPLE_BUNDLE))
    assert dropout["identifier"] == poor["identifier"]
    assert dropout["identifier"][0]["system"] == ASSESSMENT_ID_SYSTEM
    assert dropout["method"]["text"] == f"dropout-risk model version {registry.version}"
    references = {basis["reference"] for basis in dropout["basis"]}
    assert references == {
        "Encounter/e-001-1",
        "Appointment/a-001-2",
        *(
            f"Observation/o-001-1-{m}"
            for m in ("wai-client", "wai-therapist", "srs", "phq9", "gad7")
        ),
    }
    assert dropout["prediction"][0]["rationale"].startswith("Top factors: ")


@pytest.mark.parametrize("media", ["application/json", "application/fhir+json; charset=utf-8"])
def test_plain_json_and_charset_are_accepted(api, tokens, media):
    answer = _post(api, tokens, EXAMPLE_BUNDLE, **{"Content-Type": media})
    assert len(_assessments(answer)) == 2


def test_every_answered_assessment_is_in_the_audit_store(audited_api, tokens):
    api = audited_api
    resources = _assessments(_post(api, tokens, EXAMPLE_BUNDLE))
    (assessment_id,) = {r["identifier"][0]["value"] for r in resources}
    stored = api.get(
        f"/v1/risk-assessments/{assessment_id}", headers=tokens.header(Scope.AUDIT_READ)
    )
    assert stored.status_code == 200, stored.text
    record = stored.json()
    assert record["request"] == request_from_bundle(EXAMPLE_BUNDLE).model_dump(mode="json")
    dropout, poor = resources
    assert (
        record["response"]["dropout"]["probability"]
        == dropout["prediction"][0]["probabilityDecimal"]
    )
    assert (
        record["response"]["poor_outcome"]["probability"]
        == poor["prediction"][0]["probabilityDecimal"]
    )


# --- bad input: an OperationOutcome and a 4xx ----------------------------------------------


def test_a_body_that_is_not_json_gets_400(api, tokens):
    deep = b"[" * 100_000 + b"]" * 100_000  # deeper than the parser goes
    for body in (b"<Bundle/>", b'{"resourceType": "Bundle"', b"\xff\xfe\x00", b"NaN", b"", deep):
        answer = api.post(
            URL, content=body, headers={"Content-Type": FHIR_JSON, **tokens.header(RISK)}
        )
        assert _outcome(answer, 400) == {"Bundle": "the body is not valid JSON"}


def test_fhir_xml_gets_415(api, tokens):
    answer = api.post(
        URL,
        content=b"<Bundle/>",
        headers={"Content-Type": "application/fhir+xml", **tokens.header(RISK)},
    )
    assert "application/fhir+json" in _outcome(answer, 415)["Bundle"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ([], "Bundle"),
        ({"resourceType": "Patient"}, "Bundle.resourceType"),
        ({"resourceType": "Bundle", "type": "batch", "entry": []}, "Bundle.type"),
        ({"resourceType": "Bundle", "type": "collection", "entry": []}, "Bundle.entry"),
    ],
)
def test_what_is_not_a_client_bundle_gets_422(api, tokens, body, path):
    assert path in _outcome(_post(api, tokens, body), 422)


def test_every_problem_is_listed_at_its_path(api, tokens):
    bundle = copy.deepcopy(EXAMPLE_BUNDLE)
    phq9, patient = entry_of(bundle, "Observation", 3), entry_of(bundle, "Patient")
    bundle["entry"][phq9]["resource"]["valueQuantity"]["value"] = 28
    del bundle["entry"][patient]["resource"]["birthDate"]
    bundle["entry"][patient]["resource"]["gender"] = "woman"
    issues = _outcome(_post(api, tokens, bundle), 422)
    score = f"Bundle.entry[{phq9}].resource.valueQuantity.value"
    assert set(issues) == {
        score,
        f"Bundle.entry[{patient}].resource.birthDate",
        f"Bundle.entry[{patient}].resource.gender",
    }
    assert "less than or equal to 27" in issues[score]


def test_a_malformed_resource_gets_its_fhir_path(api, tokens):
    bundle = copy.deepcopy(EXAMPLE_BUNDLE)
    encounter = entry_of(bundle, "Encounter")
    bundle["entry"][encounter]["resource"]["period"]["start"] = "2026-02-30T10:00:00Z"
    bundle["entry"][encounter]["resource"]["status"] = None
    issues = _outcome(_post(api, tokens, bundle), 422)
    assert f"Bundle.entry[{encounter}].resource.period.start" in issues


def test_without_a_token_the_answer_is_the_api_error_shape(api, tokens):
    answer = api.post(URL, content=json.dumps(EXAMPLE_BUNDLE), headers={"Content-Type": FHIR_JSON})
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthorized"
    unread = api.post(URL, content=b"not even JSON", headers={"Content-Type": FHIR_JSON})
    assert unread.status_code == 401  # the token is checked before the body is read
    denied = api.post(
        URL, content=json.dumps(EXAMPLE_BUNDLE), headers=tokens.header(Scope.AUDIT_READ)
    )
    assert denied.status_code == 403


_bodies = st.one_of(
    st.binary(max_size=64),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=12,
    ).map(lambda document: json.dumps(document).encode()),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=_bodies)
def test_random_bodies_never_get_a_5xx(api, tokens, body):
    answer = api.post(
        URL, content=body, headers={"Content-Type": FHIR_JSON, **tokens.header(RISK)}
    )
    assert answer.status_code in (200, 400, 422), answer.text
    if answer.status_code != 200:
        _outcome(answer, answer.status_code)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_bundles_never_get_a_5xx(api, tokens, data):
    bundle = copy.deepcopy(EXAMPLE_BUNDLE)
    at = data.draw(st.integers(0, len(bundle["entry"]) - 1))
    bundle["entry"][at] = {"resource": mutate(bundle["entry"][at]["resource"], data.draw)}
    answer = _post(api, tokens, bundle)
    # 400: a mutation put a non-finite number in, which JSON cannot carry (sent as Infinity).
    assert answer.status_code in (200, 400, 422), answer.text
    if answer.status_code == 200:
        _assessments(answer)
    else:
        assert _outcome(answer, answer.status_code)


def test_the_operation_is_documented(api):
    operation = api.get("/openapi.json").json()["paths"][URL]["post"]
    assert operation["summary"]
    assert "Scope `risk:write`" in operation["description"]
    assert {"200", "400", "401", "403", "415", "422", "503"} <= set(operation["responses"])
    assert operation["security"] == [{"HTTPBearer": []}]
    example = operation["requestBody"]["content"][FHIR_JSON]["example"]
    assert request_from_bundle(example).client.client_id == "c-001"
