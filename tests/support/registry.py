"""A registered model for tests and benches: a throw-away MLflow store holding a champion."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Registry:
    """A throw-away MLflow store holding one champion version of the trained test model."""

    tracking_uri: str
    version: str


def registry_settings(directory: Path):
    """Training settings on a new MLflow store in ``directory``, whatever the environment says.

    The store is named explicitly: MLflow's fluent API, which registering uses, exports
    ``MLFLOW_TRACKING_URI`` to the process, so the default would follow an earlier test's.
    """
    from training.settings import TrainingSettings

    return TrainingSettings(
        data_dir=directory, mlflow_tracking_uri=f"sqlite:///{directory / 'mlflow.db'}"
    )


def register_trained(trained, settings, *, note: str = "service tests") -> str:
    """Register the trained test model in ``settings``' store as its champion; return the new
    version."""
    from training.registry import register

    registration = register(
        trained.model,
        settings=settings,
        held_out=trained.held_out,
        params={"note": note},
        metrics={"dropout/test/xgboost/auroc": 0.75, "poor_outcome/test/xgboost/ece": 0.02},
        baselines=trained.baselines,
        # A small test cohort: the gate may refuse it for sampling noise in one clinic, and
        # tests and benches need a champion whatever the verdict.
        override=f"{note}: a small synthetic test cohort",
    )
    return registration.version
