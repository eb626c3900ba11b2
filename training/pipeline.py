"""The training pipeline: extract -> landmarks -> features -> calibrated models -> evaluation.

Splits are by client, never by row. The held-out test clients are chosen by a hash of the
client id, so every retraining on the same clinic's data holds out the same clients: the
promotion gate can then compare a new model and the champion on data neither was trained
on. Within the training clients, a second client split gives early-stopping (validation)
and calibration data. Client-grouped cross-validation and leave-one-clinic-out repeat the
same fitting step (:func:`training.fitting.fit_outcome`) on other splits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from features.labels import LABEL_REVISION
from features.vocabulary import OUTCOMES
from models.bundle import RiskModel
from models.profile import reference_profile
from training.featurise import LandmarkMatrix, featurise
from training.fitting import (
    FittedOutcome,
    TrainingConfig,
    at_most,
    fit_outcome,
    is_test_client,
)
from training.held_out import HeldOut, cross_validate, evaluate_held_out, leave_one_clinic_out

__all__ = [
    "TrainingConfig",
    "TrainingResult",
    "assemble_model",
    "train",
    "train_on_landmarks",
    "training_counts",
]

#: Training landmarks profiled as the drift reference, at most (a random sample beyond: its
#: deciles and shares are as good from 200,000 rows as from millions).
PROFILE_ROWS = 200_000


@dataclass
class TrainingResult:
    """Everything a run produced: the model, baselines, metrics, tables and counts."""

    model: RiskModel
    baselines: dict[str, Pipeline]
    metrics: dict[str, dict[str, object]]
    tables: dict[str, pd.DataFrame]
    counts: dict[str, int]
    test_predictions: dict[str, pd.DataFrame]
    importance: dict[str, dict[str, dict[str, float]]]
    held_out: dict[str, HeldOut]


def train(
    clients: pd.DataFrame,
    sessions: pd.DataFrame,
    *,
    config: TrainingConfig | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> TrainingResult:
    """Train and evaluate both predictors on a contract-valid extract."""
    config = config or TrainingConfig()
    progress("building landmarks and features")
    landmarks = featurise(
        clients, sessions, max_landmark=config.max_landmark, threads=config.booster.threads
    )
    return train_on_landmarks(clients, landmarks, config=config, progress=progress)


def train_on_landmarks(
    clients: pd.DataFrame,
    landmarks: LandmarkMatrix,
    *,
    config: TrainingConfig,
    progress: Callable[[str], None] = lambda _: None,
) -> TrainingResult:
    """Train and evaluate both predictors on an extract's featurised landmarks.

    The landmark matrix is read in place: the training rows reach XGBoost block by block and
    only the held-out rows are copied out (:func:`training.fitting.fit_outcome`).

    Args:
        clients: the extract's clients table (for the counts of what was left out).
        landmarks: :func:`training.featurise.featurise` of the extract.
        config: the run's options.
        progress: called with each step's name.
    """
    features, examples = landmarks.features, landmarks.examples
    client_ids = examples["client_id"].to_numpy(dtype=object).astype(str)
    test = is_test_client(client_ids, share=config.test_share)
    rng = np.random.default_rng(config.seed)

    fitted: dict[str, FittedOutcome] = {}
    metrics: dict[str, dict[str, object]] = {}
    tables: dict[str, pd.DataFrame] = {}
    predictions: dict[str, pd.DataFrame] = {}
    importance: dict[str, dict[str, dict[str, float]]] = {}
    held_out: dict[str, HeldOut] = {}
    counts = training_counts(clients, examples)
    for outcome in OUTCOMES:
        labelled = examples[outcome].notna().to_numpy()
        labels = examples[outcome].fillna(False).to_numpy(dtype=float)
        train_rows, test_rows = labelled & ~test, labelled & test
        progress(f"{outcome}: fitting on {train_rows.sum():,} landmarks")
        fitted[outcome] = fit_outcome(
            outcome, features, labels[train_rows], client_ids[train_rows], config=config,
            rng=rng, rows=np.flatnonzero(train_rows),
        )  # fmt: skip
        progress(f"{outcome}: evaluating on {test_rows.sum():,} held-out landmarks")
        evaluation = evaluate_held_out(
            fitted[outcome], features[test_rows], labels[test_rows],
            examples.loc[test_rows].reset_index(drop=True), config=config,
        )  # fmt: skip
        held_out[outcome] = evaluation.held_out
        fitted[outcome] = evaluation.fitted  # with what its risk levels meant on them
        metrics[outcome] = {"test": evaluation.metrics}
        predictions[outcome] = evaluation.predictions
        tables |= evaluation.tables
        importance[outcome] = evaluation.importance
        if config.cv_folds > 1:
            progress(f"{outcome}: {config.cv_folds}-fold client-grouped cross-validation")
            penalty = fitted[outcome].logistic[-1].C if fitted[outcome].logistic else 1.0
            metrics[outcome]["cross_validation"] = cross_validate(
                outcome, features[train_rows], labels[train_rows], client_ids[train_rows],
                config, penalty=penalty,
            )  # fmt: skip
        if config.leave_one_clinic_out:
            progress(f"{outcome}: leave-one-clinic-out")
            unseen = leave_one_clinic_out(
                outcome, features[labelled], labels[labelled], examples.loc[labelled], config
            )
            tables[f"{outcome}_leave_one_clinic_out"] = unseen.table
            tables[f"{outcome}_interval_validity_unseen_clinics"] = unseen.interval_validity
    progress("profiling the training population (the reference for drift monitoring)")
    training_rows = at_most(np.flatnonzero(~test), PROFILE_ROWS, seed=config.seed)
    reference = reference_profile(
        features,
        {o: fitted[o].model.probability(features, rows=training_rows) for o in OUTCOMES},
        rows=training_rows,
    )
    model = assemble_model(fitted, config=config, counts=counts, reference=reference)
    baselines = {o: f.logistic for o, f in fitted.items() if f.logistic is not None}
    return TrainingResult(
        model, baselines, metrics, tables, counts, predictions, importance, held_out
    )


def assemble_model(
    fitted: dict[str, FittedOutcome],
    *,
    config: TrainingConfig,
    counts: dict[str, int],
    reference: dict[str, object],
    **metadata: object,
) -> RiskModel:
    """The served bundle of both outcomes' models, with what the card and monitoring read.

    Args:
        fitted: each outcome's fitted model.
        config: the run's options (its landmarks and seed are recorded).
        counts: :func:`training_counts` of the extract.
        reference: the training population's profile (the reference for drift).
        **metadata: further entries, e.g. the engine that trained it.
    """
    return RiskModel(
        dropout=fitted["dropout"].model,
        poor_outcome=fitted["poor_outcome"].model,
        max_landmark=config.max_landmark,
        metadata={
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "counts": counts,
            "label_revision": LABEL_REVISION,
            "config": {
                "max_landmark": config.max_landmark,
                "seed": config.seed,
                "alert_budget": dataclasses.asdict(config.alert_budget),
            },
            **metadata,
            "reference": reference,
        },
    )


def training_counts(clients: pd.DataFrame, examples: pd.DataFrame) -> dict[str, int]:
    """What went into training and what was left out, as the training report states it."""
    termination = clients["termination"].value_counts()
    return {
        "clients": len(clients),
        "landmarks": len(examples),
        "left_out_referred": int(termination.get("referred", 0)),
        "left_out_ongoing": int(termination.get("ongoing", 0)),
        "dropout_labelled_landmarks": int(examples["dropout"].notna().sum()),
        "poor_outcome_labelled_landmarks": int(examples["poor_outcome"].notna().sum()),
        "left_out_no_outcome_scores": int(
            (examples["dropout"].notna() & examples["poor_outcome"].isna())
            .groupby(examples["client_id"])
            .any()
            .sum()
        ),
    }
