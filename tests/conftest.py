"""Shared fixtures: a small hand-written extract, a synthetic cohort and a model trained on it,
MLflow settings, and the audit databases.

Fixtures only: what a test module imports lives in ``tests/support/``.
"""

from __future__ import annotations

import os

import pandas as pd
import pytest

from tests.support.databases import POSTGRES_URL, scratch_schema
from tests.support.extract import make_clients, make_sessions
from tests.support.quick_model import once_per_run, quick_cohort, train_quick


@pytest.fixture
def clients() -> pd.DataFrame:
    return make_clients()


@pytest.fixture
def sessions() -> pd.DataFrame:
    return make_sessions()


# --- synthetic cohort and a trained model, shared by the model and training tests -----------


@pytest.fixture(scope="session")
def cohort(tmp_path_factory):
    """A contract-valid synthetic cohort of 4,000 clients (parsed tables)."""
    return once_per_run(tmp_path_factory, "cohort", quick_cohort)


@pytest.fixture(scope="session")
def trained(cohort, tmp_path_factory):
    """A training result on :func:`cohort` with the light configuration."""
    return once_per_run(tmp_path_factory, "trained", lambda: train_quick(cohort))


@pytest.fixture
def mlflow_settings(tmp_path, monkeypatch):
    """Training settings pointing at a fresh SQLite MLflow store in a temporary directory."""
    from training.settings import TrainingSettings

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return TrainingSettings(data_dir=tmp_path / "data")


# --- audit databases: SQLite, and a scratch schema on the local PostgreSQL -------------------

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_admin():
    """An autocommit engine on the PostgreSQL test database, or a skip (a failure in CI)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    engine = create_engine(
        POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        engine.dispose()
        reason = f"PostgreSQL at {POSTGRES_URL} is unreachable ({error.orig})"
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"{reason}; CI=true, so the PostgreSQL tests must run, not skip", pytrace=False
            )
        pytest.skip(reason)
    yield engine
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend under test."""
    return request.param


@pytest.fixture
def audit_url(backend: str, tmp_path, request: pytest.FixtureRequest):
    """The URL of an empty audit database on ``backend``, removed after the test."""
    if backend == "sqlite":
        # A directory that does not exist yet: opening the store must create it.
        yield f"sqlite:///{tmp_path / 'audit' / 'audit.db'}"
        return
    with scratch_schema(request.getfixturevalue("postgres_admin"), prefix="audit_test") as url:
        yield url


@pytest.fixture(autouse=True)
def _no_leaked_tracking_uri():
    """MLflow's ``set_tracking_uri`` exports ``MLFLOW_TRACKING_URI`` to the process; a test
    that trains must not point the next test's settings at its store."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before
