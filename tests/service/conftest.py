"""Fixtures of the service tests: a registered model, tokens, the app.

The audit databases (``audit_url`` over SQLite and PostgreSQL) are in ``tests/conftest.py``:
the CLI's tests use them too. Fixtures only: the helpers they use are in ``tests/support/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.audit import AuditStore
from tests.support.assessment_bodies import example_request as example_body
from tests.support.registry import Registry, register_trained, registry_settings
from tests.support.tokens import Tokens, make_tokens

# --- the audit store ----------------------------------------------------------------------


@pytest.fixture
def store(audit_url: str) -> Iterator[AuditStore]:
    """An open, migrated audit store on ``audit_url`` (each backend in turn)."""
    with AuditStore.open(audit_url) as opened:
        yield opened


# --- a registered model -------------------------------------------------------------------


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


@pytest.fixture(scope="session")
def tokens() -> Tokens:
    """A token per scope (named after it) and one named "all" with every scope."""
    return make_tokens()


@pytest.fixture
def example_request() -> dict[str, Any]:
    """The example client of api.md, as a fresh JSON body."""
    return example_body()


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
            # A full collection at every start costs the suite minutes; test_heap.py and
            # the server-process tests (the production default) cover it.
            "settle_heap": False,
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
