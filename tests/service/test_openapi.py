"""The OpenAPI document describes every endpoint, its scope, its errors and an example."""

from __future__ import annotations

PROTECTED = {
    ("post", "/v1/risk-assessments"),
    ("post", "/v1/risk-assessments/batch"),
    ("get", "/v1/risk-assessments/{assessment_id}"),
    ("post", "/v1/outcomes"),
    ("get", "/v1/models/current"),
    ("post", "/v1/models/reload"),
    ("get", "/metrics"),
    ("get", "/v1/monitoring"),
    ("get", "/v1/audit/reads"),
    ("post", "/fhir/r4/$assess-dropout-risk"),
    ("get", "/v1/alerts"),
    ("get", "/v1/caseload"),
    ("get", "/fhir/r4/Flag"),
    ("post", "/v1/alerts/{alert_id}/acknowledge"),
    ("post", "/v1/alerts/{alert_id}/resolve"),
    ("post", "/v1/alerts/{alert_id}/dismiss"),
}
#: Clinician pages: HTML, opened with a token of the scope or a signed link.
PAGES = {
    ("get", "/reports/{assessment_id}"),
    ("get", "/models/{version}/card"),
    ("get", "/caseload"),
    ("post", "/caseload/alerts/{alert_id}/{step}"),
}
#: CDS Hooks: the record system's own JWT instead of our API tokens (optional for discovery).
CDS_HOOKS = {
    ("get", "/cds-services"),
    ("post", "/cds-services/{service_id}"),
    ("post", "/cds-services/{service_id}/feedback"),
}

#: SMART App Launch: opened by the browser, with no token (the issuer must be registered).
SMART = {("get", "/smart/launch"), ("get", "/smart/callback"), ("get", "/smart/jwks.json")}


def test_every_endpoint_is_documented_with_its_errors(api):
    document = api.get("/openapi.json").json()
    operations = {
        (method, path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    probes = {("get", "/health"), ("get", "/ready")}
    assert PROTECTED | CDS_HOOKS | PAGES | SMART | probes == set(operations)
    for key in PROTECTED:
        operation = operations[key]
        assert operation["summary"] and operation["description"], key
        assert "Scope `" in operation["description"], key
        assert {"401", "403"} <= set(operation["responses"]), key
        assert operation["security"] == [{"HTTPBearer": []}], key
        for status in ("401", "403"):
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorOut"}
    for key in (("get", "/health"), ("get", "/ready"), *SMART):
        assert "security" not in operations[key]
    for key in CDS_HOOKS:
        operation = operations[key]
        assert operation["summary"] and operation["description"], key
        assert {"EhrJwt": []} in operation["security"], key
        assert "401" in operation["responses"], key


def test_request_bodies_carry_the_api_examples(api):
    schemas = api.get("/openapi.json").json()["components"]["schemas"]
    (example,) = schemas["AssessmentRequest"]["examples"]
    assert example["client"]["client_id"] == "c-001"
    assert schemas["BatchRequest"]["properties"]["assessments"]["items"] == {
        "$ref": "#/components/schemas/AssessmentRequest"
    }
    assert schemas["OutcomeReport"]["examples"]
    assert set(schemas["ErrorOut"]["required"]) == {"code", "message"}
