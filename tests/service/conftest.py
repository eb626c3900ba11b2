"""Fixtures of the service tests: a registered model, audit databases, tokens, the app.

Audit databases: SQLite in a file under ``tmp_path``, and PostgreSQL, where each test gets a
fresh schema in the ``test`` database (via ``search_path`` in the URL), dropped afterwards.
An unreachable PostgreSQL skips those tests, except under ``CI=true``, where it fails them:
CI must run them.
"""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from service.schemas import AssessmentRequest
from service.security import Scope, TokenEntry, new_token

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


# --- a registered model -------------------------------------------------------------------


@dataclass(frozen=True)
class Registry:
    """A throw-away MLflow store holding one champion version of the trained test model."""

    tracking_uri: str
    version: str


def register_trained(trained, settings) -> str:
    """Register the trained test model in ``settings``' store; return the new version."""
    from training.registry import HeldOut, register

    registration = register(
        trained.model,
        settings=settings,
        held_out={o: HeldOut(*trained.held_out[o]) for o in ("dropout", "poor_outcome")},
        params={"note": "service tests"},
        metrics={"dropout/test/xgboost/auroc": 0.75, "poor_outcome/test/xgboost/ece": 0.02},
        baselines=trained.baselines,
    )
    return registration.version


def registry_settings(directory):
    """Training settings on a new MLflow store in ``directory``, whatever the environment says.

    The store is named explicitly: MLflow's fluent API, which registering uses, exports
    ``MLFLOW_TRACKING_URI`` to the process, so the default would follow an earlier test's.
    """
    from training.settings import TrainingSettings

    return TrainingSettings(
        data_dir=directory, mlflow_tracking_uri=f"sqlite:///{directory / 'mlflow.db'}"
    )


@pytest.fixture(scope="session")
def registry(trained, tmp_path_factory) -> Registry:
    """One champion, registered once per test session (tests must not move its alias)."""
    settings = registry_settings(tmp_path_factory.mktemp("registry"))
    version = register_trained(trained, settings)
    return Registry(tracking_uri=settings.tracking_uri, version=version)


@pytest.fixture(autouse=True)
def _no_process_wide_registry(tmp_path, monkeypatch):
    """Point MLflow's process-wide URIs at an empty store while a service test runs.

    Training sets them when it registers; the service must never rely on them (it gets its
    store from its settings), and with this a test that did would fail.
    """
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    empty = f"sqlite:///{tmp_path / 'not-the-registry.db'}"
    monkeypatch.setattr(tracking_utils, "_tracking_uri", empty)
    monkeypatch.setattr(registry_utils, "_registry_uri", empty)


# --- tokens, settings, the app ------------------------------------------------------------


@dataclass(frozen=True)
class Tokens:
    """Test tokens: one per scope, and one with every scope."""

    by_scope: dict[Scope, str]
    all: str
    entries: list[TokenEntry]

    def header(self, scope: Scope | None = None) -> dict[str, str]:
        """The Authorization header of the token of ``scope`` (of every scope when None)."""
        return bearer(self.all if scope is None else self.by_scope[scope])


@pytest.fixture(scope="session")
def tokens() -> Tokens:
    """A token per scope (named after it) and one named "all" with every scope."""
    by_scope, entries = {}, []
    for scope in Scope:
        token, entry = new_token(name=scope.value.replace(":", "-"), scopes={scope})
        by_scope[scope] = token
        entries.append(entry)
    every, entry = new_token(name="all", scopes=set(Scope))
    return Tokens(by_scope=by_scope, all=every, entries=[*entries, entry])


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of ``token``."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def example_request() -> dict[str, Any]:
    """The example client of api.md, as a fresh JSON body."""
    return copy.deepcopy(AssessmentRequest.model_config["json_schema_extra"]["examples"][0])


@pytest.fixture
def make_settings(tmp_path, tokens, monkeypatch) -> Callable[..., Any]:
    """Service settings on a temporary data dir, the test tokens and a given registry."""
    from service.settings import ServiceSettings

    for variable in ("MLFLOW_TRACKING_URI", "DATABASE_URL"):
        monkeypatch.delenv(variable, raising=False)

    def _settings(*, tracking_uri: str, **changes: Any) -> ServiceSettings:
        options = {
            "data_dir": tmp_path / "service",
            "mlflow_tracking_uri": tracking_uri,
            "api_tokens": tokens.entries,
            "registry_poll_seconds": 3600.0,
        } | changes
        return ServiceSettings(**options)

    return _settings


def _serve(registry, make_settings, database_url) -> Iterator[TestClient]:
    from service.app import create_app

    settings = make_settings(tracking_uri=registry.tracking_uri, database_url=database_url)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def api(registry, make_settings, tmp_path) -> Iterator[TestClient]:
    """The app in-process on the session's registry, auditing to SQLite."""
    yield from _serve(registry, make_settings, f"sqlite:///{tmp_path / 'audit.db'}")


@pytest.fixture
def audited_api(registry, make_settings, audit_url) -> Iterator[TestClient]:
    """The app in-process, auditing to each backend in turn (SQLite, PostgreSQL)."""
    yield from _serve(registry, make_settings, audit_url)
