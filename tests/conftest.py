"""Shared fixtures: a small, hand-written, contract-valid extract."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from features.instruments import MEASURE_COLUMNS


def make_clients() -> pd.DataFrame:
    """Three episodes: a completer, a dropout and an ongoing client, as CSV text would be."""
    return pd.DataFrame(
        {
            "client_id": ["c1", "c2", "c3"],
            "clinic_id": ["north", "north", "south"],
            "therapist_id": ["t1", "t2", "t3"],
            "intake_date": ["2026-01-05", "2026-01-12", "2026-02-02"],
            "age": ["34", "22", "61"],
            "gender": ["female", "male", "nonbinary"],
            "primary_concern": ["depression", "anxiety", "other"],
            "prior_treatment": ["false", None, "true"],
            "termination": ["completed", "dropout", "ongoing"],
            "end_date": ["2026-02-20", "2026-02-02", None],
        }
    )


def make_sessions() -> pd.DataFrame:
    """Sessions of :func:`make_clients`: c1 four, c2 three (the last missed), c3 two."""
    rows = [
        ("c1", 1, "2026-01-05", True, {"wai_client": 3.9, "srs": 35.0, "phq9": 18, "gad7": 12}),
        ("c1", 2, "2026-01-12", True, {"wai_client": 4.2, "srs": 37.5, "phq9": 15, "gad7": 11}),
        ("c1", 3, "2026-01-19", True, {"wai_client": 4.4, "srs": 38.0, "phq9": 12}),
        ("c1", 4, "2026-01-26", True, {"wai_client": 4.5, "srs": 39.0, "phq9": 9, "gad7": 7}),
        ("c2", 1, "2026-01-12", True, {"wai_therapist": 3.1, "ors": 14.0, "oq45": 96}),
        ("c2", 2, "2026-01-19", True, {"wai_therapist": 2.6, "ors": 13.5, "oq45": 99}),
        ("c2", 3, "2026-01-26", False, {}),
        ("c3", 1, "2026-02-02", True, {"wai_client": 4.0, "ors": 20.0}),
        ("c3", 2, "2026-02-09", True, {"wai_client": 4.1, "ors": 22.5}),
    ]
    records = [
        {
            "client_id": client_id,
            "session_number": str(number),
            "session_date": day,
            "attended": "true" if attended else "false",
            **{m: (None if m not in measures else str(measures[m])) for m in MEASURE_COLUMNS},
        }
        for client_id, number, day, attended, measures in rows
    ]
    return pd.DataFrame(records)


@pytest.fixture
def clients() -> pd.DataFrame:
    return make_clients()


@pytest.fixture
def sessions() -> pd.DataFrame:
    return make_sessions()


# --- synthetic cohort and a trained model, shared by the model and training tests -----------


@pytest.fixture(scope="session")
def cohort():
    """A contract-valid synthetic cohort of 4,000 clients (parsed tables)."""
    from features.contract import validate_extract
    from training.synth import simulate_cohort

    simulated = simulate_cohort(n_clients=4000, seed=11)
    report = validate_extract(simulated.clients, simulated.sessions)
    assert report.ok, report.lines()[:5]
    return report.clients, report.sessions


def light_config(**changes):
    """A quick training configuration for tests: fewer rounds, folds and replicates."""
    from models.estimators import BoosterSettings
    from training.pipeline import TrainingConfig

    options = {
        "cv_folds": 0,
        "leave_one_clinic_out": False,
        "bootstrap": 20,
        "booster": BoosterSettings(max_rounds=400, learning_rate=0.1),
    } | changes
    return TrainingConfig(**options)


@pytest.fixture(scope="session")
def trained(cohort):
    """A training result on :func:`cohort` with the light configuration."""
    from training.pipeline import train

    clients, sessions = cohort
    return train(clients, sessions, config=light_config())


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

    from bench.databases import POSTGRES_URL

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
    from bench.databases import scratch_schema

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
