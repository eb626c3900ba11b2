"""The service as deployed: ``dropout-risk serve`` in its own process, called over loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.security import Scope
from tests.support.polling import wait_until
from tests.support.servers import Server, running_server

pytestmark = pytest.mark.server  # dropout-risk serve in its own process

ADMIN = Scope.ADMIN


@pytest.fixture
def server(registry, tokens, tmp_path, audit_url) -> Iterator[Server]:
    """``dropout-risk serve`` on a free port, auditing to each backend in turn."""
    with running_server(
        directory=tmp_path,
        tracking_uri=registry.tracking_uri,
        database_url=audit_url,
        tokens=tokens.entries,
    ) as running:
        yield running


def test_the_served_process_answers_every_endpoint(server, tokens, example_request, registry):
    http = server.http
    example_request["client"]["client_id"] = "zq-server-secret"
    scored = http.post("/v1/risk-assessments", json=example_request, headers=tokens.header())
    assert scored.status_code == 200, scored.text
    body = scored.json()
    assert body["model"]["version"] == registry.version
    stored = http.get(f"/v1/risk-assessments/{body['assessment_id']}", headers=tokens.header())
    assert stored.json()["response"] == body  # the audit record of this 200
    batch = http.post(
        "/v1/risk-assessments/batch",
        json={"assessments": [example_request, {"client": {}}]},
        headers=tokens.header(),
    )
    assert [r["status"] for r in batch.json()["results"]] == ["ok", "error"]
    report = {"client_id": "zq-server-secret", "clinic_id": "north", "termination": "dropout",
              "end_date": "2026-04-01"}  # fmt: skip
    assert http.post("/v1/outcomes", json=report, headers=tokens.header()).status_code == 201
    current = http.get("/v1/models/current", headers=tokens.header())
    assert current.json()["version"] == registry.version
    assert http.post("/v1/models/reload", headers=tokens.header()).json()["switched"] is False
    assert "dropout_risk_http_requests_total" in http.get("/metrics", headers=tokens.header()).text
    assert http.get("/health").status_code == 200
    assert http.get("/openapi.json").json()["info"]["title"] == "dropout-risk"
    # Errors, each in the one JSON shape.
    errors = [
        http.post("/v1/risk-assessments", json=example_request),
        http.post("/v1/risk-assessments", json=example_request, headers=tokens.header(ADMIN)),
        http.post("/v1/risk-assessments", json={"client": {}}, headers=tokens.header()),
        http.get("/v1/risk-assessments/unknown", headers=tokens.header()),
        http.get("/v1/nothing-here"),
        http.delete("/v1/outcomes", headers=tokens.header()),
    ]
    assert [e.status_code for e in errors] == [401, 403, 422, 404, 404, 405]
    for error in errors:
        assert set(error.json()) == {"code", "message", "fields", "request_id"}
        assert error.json()["request_id"] == error.headers["X-Request-ID"]
    # The process's log: JSON lines, no identifier (the last request's line ends it).
    last = errors[-1].headers["X-Request-ID"]
    lines = wait_until(
        lambda: (
            any(line.get("request_id") == last for line in server.log_lines())
            and server.log_lines()
        ),
        what=server.log.read_text,
    )
    assert any(line.get("event") == "request" for line in lines)
    assert "zq-server-secret" not in server.log.read_text()
