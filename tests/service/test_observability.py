"""Logs: JSON lines with a request id, and no personal data (identifiers, ages, scores)."""

from __future__ import annotations

import json
import logging

import pytest

from service.observability import JsonFormatter


@pytest.fixture
def log_lines(caplog):
    """Every log record of the test, as the JSON lines the service writes."""
    caplog.set_level(logging.DEBUG)
    formatter = JsonFormatter()
    return lambda: [formatter.format(record) for record in caplog.records]


def test_a_scoring_request_logs_no_identifier_age_or_score(
    api, tokens, example_request, log_lines
):
    example_request["client"].update(client_id="zq-7731-secret", clinic_id="clinic-zz", age=73)
    example_request["client"]["therapist_id"] = "therapist-qq"
    example_request["sessions"][0].update(srs=31.5, phq9=23, wai_client=2.15)
    answer = api.post(
        "/v1/risk-assessments",
        json=example_request,
        headers=tokens.header() | {"X-Request-ID": "req-abc-xyz"},
    )
    assert answer.status_code == 200
    body = answer.json()
    lines = log_lines()
    text = "\n".join(lines)
    identifiers = ["zq-7731-secret", "clinic-zz", "therapist-qq", tokens.all]
    identifiers.append(body["assessment_id"])
    for identifier in identifiers:
        assert identifier not in text, f"{identifier!r} reached the log"
    numbers = {73, 31.5, 23, 2.15, body["dropout"]["probability"]}
    numbers.add(body["poor_outcome"]["probability"])
    for line in lines:
        for key, value in json.loads(line).items():
            if key in ("time", "duration_ms"):
                continue
            assert value not in numbers, f"{key}={value!r} reached the log"
            assert not any(str(n) in str(value) for n in numbers), f"{key}={value!r}"
    access = [json.loads(line) for line in lines if '"event": "request"' in line]
    assert len(access) == 1
    assert access[0]["request_id"] == "req-abc-xyz" == answer.headers["X-Request-ID"]
    assert access[0]["route"] == "/v1/risk-assessments"
    assert access[0]["status"] == 200 and access[0]["caller"] == "all"


def test_rejected_input_is_not_logged_either(api, tokens, example_request, log_lines):
    example_request["client"].update(client_id="zq-7731-secret", age=7)
    answer = api.post("/v1/risk-assessments", json=example_request, headers=tokens.header())
    assert answer.status_code == 422
    assert "zq-7731-secret" not in "\n".join(log_lines())


def test_an_unsafe_request_id_is_replaced(api):
    answer = api.get("/health", headers={"X-Request-ID": "x" * 500})
    assert answer.headers["X-Request-ID"] != "x" * 500
    assert len(answer.headers["X-Request-ID"]) == 32


def test_exceptions_are_logged_without_their_message():
    formatter = JsonFormatter()
    secret = "-".join(["zq", "7731", "secret"])  # not in the source lines the stack shows
    try:
        raise ValueError(f"client {secret} is 73")
    except ValueError as error:
        record = logging.makeLogRecord(
            {
                "msg": "failed",
                "levelname": "ERROR",
                "exc_info": (ValueError, error, error.__traceback__),
            }
        )
    line = json.loads(formatter.format(record))
    assert line["error_type"] == "ValueError"
    assert secret not in json.dumps(line)
    assert "test_observability.py" in line["stack"]


def test_a_service_without_its_own_safety_protocol_says_so_at_start(
    registry, make_settings, capsys
):
    from fastapi.testclient import TestClient

    from service.app import create_app

    def warned(**changes) -> bool:
        settings = make_settings(tracking_uri=registry.tracking_uri, **changes)
        capsys.readouterr()
        with TestClient(create_app(settings)):
            pass
        # The service logs JSON lines to stderr (its own handler, not propagated).
        return '"event": "no_safety_protocol"' in capsys.readouterr().err

    assert warned()
    assert not warned(safety_protocol="Call the duty clinician on 0123 456 789.")
