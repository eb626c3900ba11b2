"""A quick model for tests and benches: the synthetic cohort, the light training
configuration, a champion trained and registered from them, and computing it once per run.

The test suite's ``cohort``, ``trained`` and ``registry`` fixtures (``tests/conftest.py``,
``tests/service/conftest.py``) and the benches that need a served model
(``bench/bench_service.py``, ``bench/bench_restart.py``, ``bench/load_service.py``) train
the same model the same way.
"""

from __future__ import annotations

import fcntl
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tests.support.registry import register_trained, registry_settings

T = TypeVar("T")

COHORT_CLIENTS = 4000
COHORT_SEED = 11


def quick_cohort(n_clients: int = COHORT_CLIENTS, seed: int = COHORT_SEED):
    """A contract-valid synthetic cohort (parsed ``clients`` and ``sessions`` tables)."""
    from features.contract import validate_extract
    from training.synth import simulate_cohort

    simulated = simulate_cohort(n_clients=n_clients, seed=seed)
    report = validate_extract(simulated.clients, simulated.sessions)
    if not report.ok:
        raise AssertionError(["the synthetic cohort breaks the contract", *report.lines()[:5]])
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


def train_quick(cohort=None):
    """The light configuration trained on ``cohort`` (:func:`quick_cohort` when None)."""
    from training.pipeline import train

    clients, sessions = quick_cohort() if cohort is None else cohort
    return train(clients, sessions, config=light_config())


def train_and_register(data_dir: Path, *, note: str = "bench") -> str:
    """Train the quick model and register it as the champion of a new SQLite MLflow store
    under ``data_dir``; return the store's tracking URI."""
    from training.registry import champion_version

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    settings = registry_settings(data_dir)
    version = register_trained(train_quick(), settings, note=note)
    if champion_version(settings) != version:
        raise SystemExit(f"the quick model (version {version}) was not promoted to champion")
    return settings.tracking_uri


def champion_registry(tracking_uri: str | None, directory: Path) -> str:
    """``tracking_uri`` if given (a store holding a champion), else a quick one trained into
    a new SQLite store under ``directory``."""
    if tracking_uri is not None:
        return tracking_uri
    print(f"training and registering a quick model ({COHORT_CLIENTS:,} synthetic clients) ...")
    return train_and_register(directory)


def once_per_run(tmp_path_factory, name: str, produce: Callable[[], T]) -> T:
    """``produce()`` once per test run, however many pytest-xdist workers run it.

    Without xdist this is ``produce()``. Under xdist the first worker to ask computes it and
    pickles it into the directory the workers share (the parent of each one's base
    temporary directory); the others wait on a file lock meanwhile, then read it.

    Args:
        tmp_path_factory: pytest's fixture of that name.
        name: What is produced, unique in the run (the file's name).
        produce: Computes the value; it must be picklable.
    """
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return produce()
    shared = tmp_path_factory.getbasetemp().parent
    stored = shared / f"{name}.pickle"
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if stored.exists():
                return pickle.loads(stored.read_bytes())
            value = produce()
            partial = stored.with_suffix(".partial")
            partial.write_bytes(pickle.dumps(value))
            partial.replace(stored)
            return value
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
