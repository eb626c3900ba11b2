"""Access control over HTTP: every protected endpoint, every way of getting it wrong."""

from __future__ import annotations

import pytest

from service.security import Scope

# Each protected endpoint with its scope and a body that passes validation.
ENDPOINTS = [
    ("POST", "/v1/risk-assessments", Scope.RISK_WRITE, "example"),
    ("POST", "/v1/risk-assessments/batch", Scope.RISK_WRITE, "batch"),
    ("GET", "/v1/risk-assessments/00000000-0000-0000-0000-000000000000", Scope.AUDIT_READ, None),
    ("POST", "/v1/outcomes", Scope.OUTCOMES_WRITE, "outcome"),
    ("GET", "/v1/models/current", Scope.MODELS_READ, None),
    ("POST", "/v1/models/reload", Scope.ADMIN, None),
    ("GET", "/metrics", Scope.METRICS_READ, None),
    ("GET", "/v1/monitoring", Scope.AUDIT_READ, None),
]
IDS = [f"{method} {path.split('/0000')[0]}" for method, path, _, _ in ENDPOINTS]


def _body(kind, example_request):
    return {
        None: None,
        "example": example_request,
        "batch": {"assessments": [example_request]},
        "outcome": {"client_id": "c-001", "termination": "dropout", "end_date": "2026-03-23"},
    }[kind]


def _call(api, method, path, body, headers):
    return api.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "scope", "kind"), ENDPOINTS, ids=IDS)
def test_no_token_is_401(api, example_request, method, path, scope, kind):
    del scope
    answer = _call(api, method, path, _body(kind, example_request), {})
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthorized"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "scope", "kind"), ENDPOINTS, ids=IDS)
def test_an_unknown_or_malformed_token_is_401(
    api, tokens, example_request, method, path, scope, kind
):
    del scope
    for header in (
        {"Authorization": "Bearer drk_not-a-real-token"},
        {"Authorization": f"Basic {tokens.all}"},
        {"Authorization": tokens.all},
        {"Authorization": "Bearer "},
    ):
        answer = _call(api, method, path, _body(kind, example_request), header)
        assert answer.status_code == 401, header
        assert answer.json()["code"] == "unauthorized"


@pytest.mark.parametrize(("method", "path", "scope", "kind"), ENDPOINTS, ids=IDS)
def test_a_token_without_the_scope_is_403(api, tokens, example_request, method, path, scope, kind):
    for other in Scope:
        if other is scope:
            continue
        answer = _call(api, method, path, _body(kind, example_request), tokens.header(other))
        assert answer.status_code == 403, (other, answer.text)
        body = answer.json()
        assert body["code"] == "forbidden" and scope.value in body["message"]


@pytest.mark.parametrize(("method", "path", "scope", "kind"), ENDPOINTS, ids=IDS)
def test_the_scope_admits(api, tokens, example_request, method, path, scope, kind):
    answer = _call(api, method, path, _body(kind, example_request), tokens.header(scope))
    assert answer.status_code not in (401, 403), answer.text
    assert answer.status_code < 500


def test_probes_and_the_openapi_document_need_no_token(api):
    for path in ("/health", "/ready", "/openapi.json", "/docs"):
        assert api.get(path).status_code == 200, path
