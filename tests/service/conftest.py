"""Fixtures of the service tests: a registered model, tokens, the app.

The audit databases (``audit_url`` over SQLite and PostgreSQL) are in ``tests/conftest.py``:
the CLI's tests use them too.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.schemas import AssessmentRequest
from service.security import Scope, TokenEntry, new_token

# --- a registered model -------------------------------------------------------------------


@dataclass(frozen=True)
class Registry:
    """A throw-away MLflow store holding one champion version of the trained test model."""

    tracking_uri: str
    version: str


def register_trained(trained, settings) -> str:
    """Register the trained test model in ``settings``' store; return the new version."""
    from training.registry import register

    registration = register(
        trained.model,
        settings=settings,
        held_out=trained.held_out,
        params={"note": "service tests"},
        metrics={"dropout/test/xgboost/auroc": 0.75, "poor_outcome/test/xgboost/ece": 0.02},
        baselines=trained.baselines,
        # The light test model is too small for the promotion gate; promote it anyway, with
        # the reason recorded, as the demo does.
        override="service tests: a small cohort",
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
        token, entry = new_token(
            name=scope.value.replace(":", "-"), scopes={scope}, all_clinics=True
        )
        by_scope[scope] = token
        entries.append(entry)
    every, entry = new_token(name="all", scopes=set(Scope), all_clinics=True)
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
