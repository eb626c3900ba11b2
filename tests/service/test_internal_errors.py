"""An unexpected exception: a 500 in the API's error shape, with the request id and security
headers, logged once by type and frames (never its message), counted in the metrics."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from service.errors import internal_error_response
from service.headers import SecurityHeadersMiddleware
from service.observability import JsonFormatter, RequestContextMiddleware, ServiceMetrics

SECRET = "zq-4471-secret"


@pytest.fixture
def log_lines(caplog):
    """Every log record of the test, as the JSON lines the service writes."""
    caplog.set_level(logging.DEBUG)
    formatter = JsonFormatter()
    return lambda: [json.loads(formatter.format(record)) for record in caplog.records]


def _scoring_breaks(*_args, **_kwargs):
    raise ValueError(f"cannot score client {SECRET}")  # a message that quotes input


def _requests_counted(api: TestClient, route: str, status: str) -> float:
    return api.app.state.runtime.metrics.registry.get_sample_value(
        "dropout_risk_http_requests_total",
        {"route": route, "method": "POST", "status": status},
    )


def test_an_exception_in_scoring_is_a_500_in_the_error_shape_with_every_header(
    api, tokens, example_request, log_lines, monkeypatch
):
    monkeypatch.setattr("service.recording.assess_many", _scoring_breaks)
    example_request["client"]["client_id"] = SECRET
    answer = api.post(  # TestClient raises what escapes the app: nothing does
        "/v1/risk-assessments",
        json=example_request,
        headers=tokens.header() | {"X-Request-ID": "req-boom-1"},
    )
    assert answer.status_code == 500
    assert answer.json() == {
        "code": "internal_error",
        "message": "an unexpected error occurred",
        "fields": [],
        "request_id": "req-boom-1",
    }
    assert answer.headers["X-Request-ID"] == "req-boom-1"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Content-Type"] == "application/json"

    lines = log_lines()
    assert SECRET not in json.dumps(lines)
    (error,) = [line for line in lines if line.get("event") == "unhandled_error"]
    assert error["error_type"] == "ValueError"
    assert error["request_id"] == "req-boom-1"
    assert "_scoring_breaks" in error["stack"]  # the frames, down to where it was raised
    (access,) = [line for line in lines if line.get("event") == "request"]
    assert (access["status"], access["route"]) == (500, "/v1/risk-assessments")
    assert _requests_counted(api, "/v1/risk-assessments", "500") == 1


def test_the_service_answers_normally_after_an_unexpected_error(
    api, tokens, example_request, monkeypatch
):
    with monkeypatch.context() as patch:
        patch.setattr("service.recording.assess_many", _scoring_breaks)
        failed = api.post("/v1/risk-assessments", json=example_request, headers=tokens.header())
    scored = api.post("/v1/risk-assessments", json=example_request, headers=tokens.header())
    assert (failed.status_code, scored.status_code) == (500, 200)
    assert failed.headers["X-Request-ID"] != scored.headers["X-Request-ID"]
    assert _requests_counted(api, "/v1/risk-assessments", "200") == 1


async def _fails_after_answering(_scope, _receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"[1, 2", "more_body": True})
    raise RuntimeError(f"lost {SECRET} half way")


async def _fails_before_answering(_scope, _receive, _send):
    raise RuntimeError(f"lost {SECRET} at once")


def _wrapped(app) -> tuple[TestClient, ServiceMetrics]:
    metrics = ServiceMetrics()
    inner = RequestContextMiddleware(app, metrics=metrics, internal_error=internal_error_response)
    return TestClient(SecurityHeadersMiddleware(inner)), metrics


def test_an_exception_before_any_answer_gets_the_error_response(log_lines):
    client, metrics = _wrapped(_fails_before_answering)
    answer = client.get("/anything")
    assert answer.status_code == 500
    assert answer.json()["code"] == "internal_error"
    assert answer.json()["request_id"] == answer.headers["X-Request-ID"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert SECRET not in answer.text and SECRET not in json.dumps(log_lines())
    sample = {"route": "unmatched", "method": "GET", "status": "500"}
    assert metrics.registry.get_sample_value("dropout_risk_http_requests_total", sample) == 1


def test_an_exception_after_the_answer_began_is_logged_once_and_counted_as_a_500(log_lines):
    client, metrics = _wrapped(_fails_after_answering)
    answer = client.get("/anything")  # nothing escapes to the server, which would log it
    assert answer.status_code == 200  # the status line had gone out; the body is cut short
    assert answer.content == b"[1, 2"
    lines = log_lines()
    assert SECRET not in json.dumps(lines)
    (error,) = [line for line in lines if line.get("event") == "unhandled_error"]
    assert error["error_type"] == "RuntimeError"
    (access,) = [line for line in lines if line.get("event") == "request"]
    assert access["status"] == 500
    sample = {"route": "unmatched", "method": "GET", "status": "500"}
    assert metrics.registry.get_sample_value("dropout_risk_http_requests_total", sample) == 1
