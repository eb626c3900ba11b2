"""Tracking and registry: log a run, register the bundle, and gate the ``champion`` alias.

The registered model ``dropout-risk`` holds one bundle per version (both predictors, their
calibrators, feature specification, thresholds, metadata), logged as an MLflow pyfunc with
a signature, an input example and our ``features`` and ``models`` code, so that
``mlflow models serve`` can load it too.

Promotion gate: the alias ``champion`` moves to the new version only if, on the held-out
clients of this run, for both outcomes, its AUROC is not below the champion's by more than
the tolerance and its calibration is within bounds. Calibration is judged on evidence: a
model is refused when the 95% client-bootstrap interval of its calibration slope lies wholly
outside the allowed range, or when even the interval's lower end of its ECE exceeds the
maximum (a few hundred held-out clients give point estimates too noisy to gate on). The
decision and its reason are tagged on the version and the run.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

import features
import models
from features.engineering import FEATURE_NAMES
from models.bundle import RiskModel, load_baselines
from models.pyfunc import BUNDLE_ARTIFACT, RiskModelPyfunc, prediction_frame
from models.registry_store import (
    EVALUATION,
    MetricKey,
    alias_version,
    bundle_directory,
    download_model,
    registry_client,
)
from training.gate import GateVerdict, judge
from training.held_out import HeldOut
from training.model_card import gate_section
from training.settings import CHAMPION, TrainingSettings

_PIP_REQUIREMENTS = (
    "mlflow==3.17.2",
    "xgboost>=3.2,<3.3",
    "scikit-learn>=1.9,<1.10",
    "numpy",
    "pandas",
)


@dataclass(frozen=True)
class Registration:
    """Outcome of registering one trained bundle."""

    run_id: str
    version: str
    promoted: bool
    reason: str
    verdict: GateVerdict


def client(settings: TrainingSettings) -> MlflowClient:
    """Point MLflow (runs are logged through its fluent API) at the store; return a client.

    MLflow also exports the URI as ``MLFLOW_TRACKING_URI`` to this process's environment,
    so settings read afterwards in the same process follow this store.
    """
    tracking = registry_client(settings)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return tracking


def ensure_experiment(settings: TrainingSettings) -> str:
    """The experiment id, creating the experiment (with our artifact root) if needed."""
    tracking = client(settings)
    experiment = tracking.get_experiment_by_name(settings.experiment)
    if experiment is not None:
        return experiment.experiment_id
    return tracking.create_experiment(
        settings.experiment, artifact_location=settings.artifact_location
    )


def champion_version(settings: TrainingSettings) -> str | None:
    """The version the ``champion`` alias points at, or None if there is none."""
    return alias_version(settings, CHAMPION)


def load_model(settings: TrainingSettings, *, version: str | None = None) -> tuple[RiskModel, str]:
    """The bundle of ``version`` (default: the champion) and its version number.

    Raises:
        LookupError: no such version, or no champion yet.
    """
    version = _resolve(settings, version)
    return download_model(settings, version), version


def load_logistic_baselines(settings: TrainingSettings, *, version: str) -> dict:
    """The logistic-regression baselines registered with ``version`` (by outcome)."""
    with bundle_directory(settings, _resolve(settings, version)) as directory:
        return load_baselines(directory)


def _resolve(settings: TrainingSettings, version: str | None) -> str:
    tracking = client(settings)
    if version is None:
        version = champion_version(settings)
        if version is None:
            raise LookupError(f"no {CHAMPION} version of {settings.model_name!r} is registered")
    try:
        tracking.get_model_version(settings.model_name, str(version))
    except MlflowException as error:
        raise LookupError(f"{settings.model_name!r} has no version {version}") from error
    return str(version)


def register(
    model: RiskModel,
    *,
    settings: TrainingSettings,
    held_out: dict[str, HeldOut],
    params: dict[str, object],
    metrics: dict[str, float],
    artifacts_dir: Path | None = None,
    baselines: dict | None = None,
    override: str | None = None,
) -> Registration:
    """Judge the bundle, log a run with it, register it as a new version, then promote it
    if the gate passed it (or ``override`` gives a recorded reason to promote it anyway).

    The gate's verdict is decided first, so that it travels inside the registered bundle
    (metadata ``gate`` and the model card's last section) as well as in the run's tags.
    """
    tracking = client(settings)
    experiment_id = ensure_experiment(settings)
    current = champion_version(settings)
    champion = load_model(settings, version=current)[0] if current else None
    verdict = judge(model, champion, held_out, settings.gate, override=override)
    model = dataclasses.replace(
        model,
        metadata={**model.metadata, "gate": verdict.to_dict()},
        model_card=model.model_card + gate_section(verdict),
    )
    with (
        mlflow.start_run(experiment_id=experiment_id) as run,
        tempfile.TemporaryDirectory() as scratch,
    ):
        mlflow.log_params({k: _param(v) for k, v in params.items()})
        mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
        if artifacts_dir is not None:
            mlflow.log_artifacts(str(artifacts_dir), artifact_path="evaluation")
        if model.model_card:
            mlflow.log_text(model.model_card, "model_card.md")
        bundle_dir = model.save(Path(scratch) / BUNDLE_ARTIFACT, baselines=baselines)
        example_features = next(iter(held_out.values())).features[:5]
        example = pd.DataFrame(example_features, columns=list(FEATURE_NAMES))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=RiskModelPyfunc(),
            artifacts={BUNDLE_ARTIFACT: str(bundle_dir)},
            code_paths=[str(Path(features.__file__).parent), str(Path(models.__file__).parent)],
            signature=infer_signature(example, prediction_frame(model, example_features)),
            input_example=example,
            pip_requirements=list(_PIP_REQUIREMENTS),
            registered_model_name=settings.model_name,
        )
        version = str(info.registered_model_version)
        reason = verdict.summary()
        tags = {"promotion": verdict.verdict, "promotion_reason": reason[:5000]}
        if verdict.override is not None:
            tags |= {
                "override_reason": verdict.override.reason,
                "override_user": verdict.override.user,
            }
        mlflow.set_tags(tags)
    tracking.set_model_version_tag(settings.model_name, version, "promotion_reason", reason[:5000])
    if verdict.promoted:
        tracking.set_registered_model_alias(settings.model_name, CHAMPION, version)
    return Registration(
        run_id=run.info.run_id,
        version=version,
        promoted=verdict.promoted,
        reason=reason,
        verdict=verdict,
    )


def log_evaluation(
    settings: TrainingSettings, *, version: str, table: pd.DataFrame, data: dict[str, object]
) -> str:
    """Log an evaluation of ``version`` on another extract as its own run; return its id."""
    experiment_id = ensure_experiment(settings)
    metrics = {
        str(MetricKey(row["outcome"], EVALUATION, row["model"], name)): float(row[name])
        for row in table.to_dict("records")
        for name in table.columns
        if name not in ("outcome", "model", "n") and np.isfinite(row[name])
    }
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"evaluate version {version}"
    ) as run:
        mlflow.set_tags({"kind": "evaluation", "model_version": version})
        mlflow.log_params({"model_version": version, "fingerprint": _param(data)})
        mlflow.log_metrics(metrics)
        mlflow.log_text(table.to_csv(index=False), "evaluation.csv")
    return run.info.run_id


def _param(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:6000]  # MLflow's parameter value limit
