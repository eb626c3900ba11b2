"""The service as deployed: ``dropout-risk serve`` in its own process, called over loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.security import Scope

ADMIN = Scope.ADMIN


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A running ``dropout-risk serve`` process and an HTTP client of it."""

    def __init__(self, process: subprocess.Popen, base_url: str, log: Path) -> None:
        self.process = process
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.log = log

    def log_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line[:1] == "{"]


@pytest.fixture
def server(registry, tokens, tmp_path, audit_url) -> Iterator[Server]:
    """``dropout-risk serve`` on a free port, configured only through its environment."""
    port = _free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DROPOUT_RISK_", "MLFLOW_")) and key != "DATABASE_URL"
    } | {
        "DROPOUT_RISK_DATA_DIR": str(tmp_path / "data"),
        "MLFLOW_TRACKING_URI": registry.tracking_uri,
        "DATABASE_URL": audit_url,
        "DROPOUT_RISK_API_TOKENS": json.dumps([e.model_dump(mode="json") for e in tokens.entries]),
    }
    log = tmp_path / "server.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--port", str(port)],
            env=environment,
            cwd=tmp_path,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if running.http.get("/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield running
    finally:
        running.http.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


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
    report = {"client_id": "zq-server-secret", "termination": "dropout", "end_date": "2026-04-01"}
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
    # The process's log: JSON lines, no identifier.
    time.sleep(0.2)
    lines = server.log_lines()
    assert any(line.get("event") == "request" for line in lines)
    assert "zq-server-secret" not in server.log.read_text()
