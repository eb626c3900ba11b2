"""Fixtures of the audit store tests: every test runs on SQLite and on PostgreSQL.

The databases come from ``audit_url`` in ``tests/service/conftest.py``.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from service.audit import AuditStore
from service.schemas import AssessmentRequest


@pytest.fixture
def make_request() -> Callable[..., dict[str, Any]]:
    """A factory of contract-shaped assessment requests (keyword: ``client_id``)."""

    def _request(*, client_id: str = "c-001") -> dict[str, Any]:
        body = copy.deepcopy(AssessmentRequest.model_config["json_schema_extra"]["examples"][0])
        body["client"]["client_id"] = client_id
        # Non-ASCII text: the input hash must be over UTF-8 canonical JSON.
        body["sessions"][0]["note"] = "Zoë — first visit"
        return body

    return _request


@pytest.fixture
def make_response() -> Callable[..., dict[str, Any]]:
    """A factory of contract-shaped assessment responses."""

    def _response(*, assessment_id: str, client_id: str = "c-001") -> dict[str, Any]:
        return {
            "assessment_id": assessment_id,
            "client_id": client_id,
            "as_of_session": 2,
            "model": {"name": "dropout-risk", "version": "3", "trained_at": "2026-04-01"},
            "dropout": {
                "probability": 0.41,
                "risk_level": "high",
                "factors": [
                    {
                        "feature": "missed_last",
                        "label": "Missed appointment at session 2",
                        "value": True,
                        "effect": 0.12,
                        "direction": "raises",
                        "text": "Follow up on the missed appointment.",
                    }
                ],
            },
            "poor_outcome": {"probability": 0.35, "risk_level": "moderate", "factors": []},
            "signals": [{"code": "srs_below_cutoff", "text": "SRS below 36."}],
            "warnings": [],
        }

    return _response


@pytest.fixture
def assess(make_request, make_response) -> Callable[..., Any]:
    """Record one assessment in a store: ``assess(store, client_id=..., model_version=...,
    clinic_id=...)`` (the example's clinic unless named)."""

    def _assess(
        store: AuditStore,
        *,
        client_id: str = "c-001",
        model_version: str = "3",
        clinic_id: str | None = None,
    ):
        assessment_id = str(uuid.uuid4())
        request = make_request(client_id=client_id)
        if clinic_id is not None:
            request["client"]["clinic_id"] = clinic_id
        return store.record_assessment(
            assessment_id=assessment_id,
            client_id=client_id,
            as_of_session=2,
            model_name="dropout-risk",
            model_version=model_version,
            request=request,
            response=make_response(assessment_id=assessment_id, client_id=client_id),
        )

    return _assess
