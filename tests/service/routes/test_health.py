"""Probes: alive always; ready only with a model and an answering audit store."""

from __future__ import annotations

import dataclasses

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from service.app import create_app
from service.audit import AuditStore
from service.batching import AssessmentBatcher
from service.recording import Recorder


def test_health_and_ready(api, registry):
    assert api.get("/health").json() == {"status": "alive"}
    ready = api.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["model_version"] == registry.version
    assert body["database"] == "ok"


def test_without_a_model_the_service_starts_but_is_not_ready(
    make_settings, tmp_path, tokens, example_request
):
    empty_registry = f"sqlite:///{tmp_path / 'empty-mlflow.db'}"
    with TestClient(create_app(make_settings(tracking_uri=empty_registry))) as api:
        assert api.get("/health").status_code == 200
        ready = api.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not_ready"
        assert ready.json()["model_version"] is None
        assert "no 'champion' version" in ready.json()["registry"]["error"]
        scored = api.post("/v1/risk-assessments", json=example_request, headers=tokens.header())
        assert scored.status_code == 503
        current = api.get("/v1/models/current", headers=tokens.header())
        assert current.status_code == 503
        assert current.json()["code"] == "model_unavailable"


def test_an_unreachable_audit_store_refuses_to_acknowledge_and_is_not_ready(
    api, tokens, example_request
):
    runtime = api.app.state.runtime
    unreachable = create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    store = AuditStore(engine=unreachable)
    recorder = Recorder(audit=store, metrics=runtime.metrics, factors=runtime.settings.factors)
    batcher = AssessmentBatcher(
        recorder=recorder, metrics=runtime.metrics, max_batch=8, max_wait_seconds=0.0
    )
    api.app.state.runtime = dataclasses.replace(
        runtime, audit=store, recorder=recorder, batcher=batcher
    )
    ready = api.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["database"] == "unreachable"
    scored = api.post("/v1/risk-assessments", json=example_request, headers=tokens.header())
    assert scored.status_code == 503
    assert scored.json()["code"] == "audit_unavailable"
    assert "assessment_id" not in scored.text  # nothing unrecorded was sent
    report = {
        "client_id": "c-1",
        "clinic_id": "north",
        "termination": "dropout",
        "end_date": "2026-03-01",
    }
    reported = api.post("/v1/outcomes", json=report, headers=tokens.header())
    assert (reported.status_code, reported.json()["code"]) == (503, "audit_unavailable")
    api.app.state.runtime = runtime
