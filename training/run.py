"""What ``dropout-risk train`` and ``evaluate`` do, end to end, for the command line."""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.contract import read_extract
from features.labels import derive_labels
from features.signals import rule_flags
from features.vocabulary import OUTCOMES
from models.estimators import baseline_probability
from models.metrics import point_metrics
from models.registry_store import CROSS_VALIDATION, INTERVAL_ENDS, TEST, MetricKey
from training.featurise import featurise
from training.model_card import render_model_card
from training.pipeline import TrainingConfig, TrainingResult, train_on_landmarks
from training.plots import save_plots
from training.registry import (
    Registration,
    load_logistic_baselines,
    load_model,
    log_evaluation,
    register,
)
from training.settings import TrainingSettings

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainingRun:
    """A finished training run: what was learnt and how registration went."""

    result: TrainingResult
    registration: Registration


def fingerprint(
    clients: pd.DataFrame, sessions: pd.DataFrame, paths: tuple[Path, ...]
) -> dict[str, object]:
    """Row counts, label rates and file hashes: enough to tell two extracts apart."""
    termination = clients["termination"].value_counts(normalize=True).round(4).to_dict()
    labels = derive_labels(clients, sessions)
    return {
        "clients": len(clients),
        "sessions": len(sessions),
        "termination_rates": termination,
        "label_rates": {
            outcome: round(float(labels[outcome].astype("Float64").mean()), 4)
            for outcome in OUTCOMES
        },
        "files": {path.name: _sha256(path) for path in paths},
    }


def is_synthetic(clients_path: Path) -> bool:
    """Whether an extract is a synthetic cohort: ``dropout-risk synth`` writes its oracle
    (the simulated truth) beside the tables, which no clinic's extract has. ``serve``
    refuses a champion trained on one unless told (``--allow-synthetic-model``)."""
    return (clients_path.parent / "oracle.csv").exists()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def flat_metrics(result: TrainingResult) -> dict[str, float]:
    """Test and cross-validation metrics under their :class:`MetricKey` names."""
    flat: dict[str, float] = {}
    for outcome, sections in result.metrics.items():
        for model, stats in sections["test"].items():
            for metric, estimate in stats.items():
                flat[str(MetricKey(outcome, TEST, model, metric))] = float(estimate.value)
                for end in INTERVAL_ENDS:
                    key = MetricKey(outcome, TEST, model, f"{metric}_{end}")
                    flat[str(key)] = float(getattr(estimate, end))
        for model, stats in sections.get("cross_validation", {}).items():
            if isinstance(stats, dict):
                for metric, value in stats.items():
                    flat[str(MetricKey(outcome, CROSS_VALIDATION, model, metric))] = float(value)
    return flat


def train_and_register(
    clients_path: Path,
    sessions_path: Path,
    *,
    settings: TrainingSettings,
    config: TrainingConfig,
    progress: Progress,
    engine: str = "single",
    scheduler: str | None = None,
    override_gate: str | None = None,
) -> TrainingRun:
    """Validate, train, evaluate, log, register and gate: the ``train`` command.

    ``override_gate`` promotes the version even if the gate refuses it, recording the
    reason and the user (small demo, test and bench cohorts).

    ``engine`` is ``single`` (this process) or ``dask`` (a Dask cluster at ``scheduler``, or
    a local one: :func:`training.distributed.train_on_cluster`, Parquet only).
    """
    engine_params: dict[str, object] = {"engine": engine}
    if engine == "dask":
        from training.distributed import NOT_RUN, train_on_cluster

        run = train_on_cluster(
            clients_path, sessions_path, config=config, scheduler=scheduler, progress=progress
        )
        result, config = run.result, run.config
        data = {**run.summary, "files": {name: _sha256(path) for name, path in run.files.items()}}
        engine_params |= {"partitions": run.partitions, "not_run": NOT_RUN}
    else:
        progress("reading and validating the extract")
        clients, sessions = read_extract(clients_path, sessions_path)
        data = fingerprint(clients, sessions, (clients_path, sessions_path))
        progress("building landmarks and features")
        landmarks = featurise(
            clients, sessions, max_landmark=config.max_landmark, threads=config.booster.threads
        )
        del sessions  # the landmark matrix has all that training reads from them
        result = train_on_landmarks(clients, landmarks, config=config, progress=progress)
        del landmarks
    synthetic = is_synthetic(clients_path)
    card = render_model_card(result, fingerprint=data, config=config, synthetic=synthetic)
    # A new bundle with the card and fingerprint; the run's own result stays as trained.
    model = dataclasses.replace(
        result.model,
        model_card=card,
        metadata={**result.model.metadata, "fingerprint": data, "synthetic_data": synthetic},
    )
    with tempfile.TemporaryDirectory() as scratch:
        artifacts = Path(scratch)
        progress("saving plots and tables")
        for outcome in OUTCOMES:
            save_plots(
                result.test_predictions[outcome],
                result.importance[outcome]["concepts"],
                outcome=outcome,
                directory=artifacts / "plots",
            )
        for name, table in result.tables.items():
            (artifacts / "tables").mkdir(exist_ok=True)
            table.to_csv(artifacts / "tables" / f"{name}.csv", index=False)
        progress("logging to MLflow and registering")
        registration = register(
            model,
            settings=settings,
            held_out=result.held_out,
            params={
                "max_landmark": config.max_landmark,
                "test_share": config.test_share,
                "cv_folds": config.cv_folds,
                "seed": config.seed,
                "booster": config.booster.params("dropout"),
                "counts": result.counts,
                "fingerprint": data,
                **engine_params,
            },
            metrics=flat_metrics(result),
            artifacts_dir=artifacts,
            baselines=result.baselines,
            override=override_gate,
        )
    return TrainingRun(result=result, registration=registration)


def evaluate_registered(
    clients_path: Path,
    sessions_path: Path,
    *,
    settings: TrainingSettings,
    version: str | None,
    oracle: pd.DataFrame | None = None,
) -> tuple[str, pd.DataFrame]:
    """Metrics of a registered model on a labelled extract, beside its baselines; logged.

    Returns the version evaluated and one row per (outcome, model) with every metric.
    ``oracle`` (the simulator's true probabilities per client) adds an upper-bound row.
    """
    model, version = load_model(settings, version=version)
    clients, sessions = read_extract(clients_path, sessions_path)
    landmarks = featurise(clients, sessions, max_landmark=model.max_landmark)
    features = landmarks.features
    baselines = load_logistic_baselines(settings, version=version)
    flags = rule_flags(features)
    rows = []
    for outcome in OUTCOMES:
        labelled = landmarks.examples[outcome].notna().to_numpy()
        labels = landmarks.examples.loc[labelled, outcome].to_numpy(dtype=float)
        x = features[labelled]
        scores = {"xgboost": model.outcome_model(outcome).probability(x)}
        if outcome in baselines:
            scores["logistic"] = baseline_probability(baselines[outcome], x)
        scores |= {
            rule: flags[rule][labelled].astype(float)
            for rule in ("srs_below_cutoff", "not_on_track")
        }
        if oracle is not None:
            truth = oracle.set_index("client_id")[f"{outcome}_probability"]
            scores["oracle"] = (
                landmarks.examples.loc[labelled, "client_id"].map(truth).to_numpy(dtype=float)
            )
        for name, probability in scores.items():
            rows.append(
                {
                    "outcome": outcome,
                    "model": name,
                    "n": len(labels),
                    **point_metrics(labels, probability),
                }
            )
    table = pd.DataFrame(rows)
    data = fingerprint(clients, sessions, (clients_path, sessions_path))
    log_evaluation(settings, version=version, table=table, data=data)
    return version, table
