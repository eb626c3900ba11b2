"""Fixtures of the audit store tests: every test runs on SQLite and on PostgreSQL.

SQLite lives in a file under ``tmp_path``. PostgreSQL tests each get a fresh schema in the
``test`` database (via ``search_path`` in the URL), dropped afterwards. An unreachable
PostgreSQL skips those tests, except under ``CI=true``, where it fails them: CI must run them.
"""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from service.audit import AuditStore
from service.schemas import AssessmentRequest

POSTGRES_URL = os.environ.get(
    "AUDIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An autocommit engine on the PostgreSQL test database, or a skip (a failure in CI)."""
    engine = create_engine(
        POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        engine.dispose()
        reason = f"PostgreSQL at {POSTGRES_URL} is unreachable ({error.orig})"
    else:
        reason = None
    if reason is not None:
        if os.environ.get("CI") == "true":
            message = f"{reason}; CI=true, so the PostgreSQL audit tests must run, not skip"
            pytest.fail(message, pytrace=False)
        pytest.skip(reason)
    yield engine
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend under test."""
    return request.param


@pytest.fixture
def audit_url(backend: str, tmp_path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of an empty audit database on ``backend``, removed after the test."""
    if backend == "sqlite":
        # A directory that does not exist yet: opening the store must create it.
        yield f"sqlite:///{tmp_path / 'audit' / 'audit.db'}"
        return
    admin: Engine = request.getfixturevalue("postgres_admin")
    schema = f"audit_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    # The application name marks this test's connections, so teardown can end stragglers.
    yield (
        make_url(POSTGRES_URL)
        .update_query_dict({"options": f"-csearch_path={schema}", "application_name": schema})
        .render_as_string(hide_password=False)
    )
    with admin.connect() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = :name AND pid <> pg_backend_pid()"
            ),
            {"name": schema},
        )
        connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def store(audit_url: str) -> Iterator[AuditStore]:
    """An open, migrated audit store on ``audit_url``."""
    with AuditStore.open(audit_url) as opened:
        yield opened


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
    """Record one assessment in a store: ``assess(store, client_id=..., model_version=...)``."""

    def _assess(store: AuditStore, *, client_id: str = "c-001", model_version: str = "3"):
        assessment_id = str(uuid.uuid4())
        return store.record_assessment(
            assessment_id=assessment_id,
            client_id=client_id,
            as_of_session=2,
            model_name="dropout-risk",
            model_version=model_version,
            request=make_request(client_id=client_id),
            response=make_response(assessment_id=assessment_id, client_id=client_id),
        )

    return _assess
