"""The training pipeline: extract -> landmarks -> features -> calibrated models -> evaluation.

Splits are by client, never by row. The held-out test clients are chosen by a hash of the
client id, so every retraining on the same clinic's data holds out the same clients: the
promotion gate can then compare a new model and the champion on data neither was trained
on. Within the training clients, a second client split gives early-stopping (validation)
and calibration data. Client-grouped cross-validation and leave-one-clinic-out repeat the
same fitting step (:func:`fit_outcome`) on other splits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.pipeline import Pipeline

from features.engineering import OUTCOMES, compute_features
from features.landmarks import DEFAULT_LANDMARKS, build_landmarks
from features.signals import signal_flags
from models.bundle import OutcomeModel, RiskModel, RiskThresholds
from models.calibration import MarginCalibrator
from models.estimators import (
    BoosterSettings,
    booster_margin,
    fit_booster,
    fit_logistic_baseline,
    refit_booster,
)
from models.explanations import explain, global_importance
from training.drift import reference_profile
from training.evaluation import age_band, bootstrap_metrics, metrics_frame, point_metrics

RULE_BASELINES = ("srs_below_cutoff", "not_on_track")
THRESHOLD_RULE = (
    "moderate: at or above the outcome's rate in the validation and calibration clients "
    "(more likely than the average client); high: at or above twice that rate or the 90th "
    "percentile of validation predictions, whichever is lower (so the high band never "
    "holds fewer than about 1 in 10 clients), and always above moderate."
)


@dataclass(frozen=True)
class TrainingConfig:
    """Options of one training run."""

    max_landmark: int = DEFAULT_LANDMARKS
    test_share: float = 0.2
    cv_folds: int = 5
    leave_one_clinic_out: bool = True
    bootstrap: int = 200
    seed: int = 0
    booster: BoosterSettings = field(default_factory=BoosterSettings)


@dataclass(frozen=True)
class FittedOutcome:
    """What :func:`fit_outcome` produces for one outcome."""

    model: OutcomeModel
    logistic: Pipeline | None


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
    held_out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]


def is_test_client(client_ids: pd.Series | np.ndarray, *, share: float) -> np.ndarray:
    """Whether each client belongs to the held-out test split (stable across runs)."""
    buckets = np.array(
        [int(hashlib.sha256(str(c).encode()).hexdigest()[:8], 16) % 10_000 for c in client_ids]
    )
    return buckets < share * 10_000


def _split_clients(clients: np.ndarray, shares: tuple[float, ...], rng: np.random.Generator):
    """Random client-disjoint parts with the given shares: one boolean mask per part."""
    unique = np.unique(clients)
    order = rng.permutation(len(unique))
    bounds = np.floor(np.cumsum((0, *shares)) / sum(shares) * len(unique)).astype(int)
    part = np.empty(len(unique), dtype=int)
    for index in range(len(shares)):
        part[order[bounds[index] : bounds[index + 1]]] = index
    lookup = part[np.searchsorted(unique, clients)]
    return [lookup == index for index in range(len(shares))]


def choose_thresholds(probability: np.ndarray, labels: np.ndarray) -> RiskThresholds:
    """Risk-level cut-offs from validation predictions (rule: :data:`THRESHOLD_RULE`)."""
    rate = float(np.mean(labels))
    high = min(2 * rate, float(np.quantile(probability, 0.9)))
    high = max(high, rate + 0.01)
    return RiskThresholds(moderate=round(rate, 4), high=round(high, 4), rule=THRESHOLD_RULE)


def refit_rounds(stopped: xgb.Booster, *, fitted: int, learnt: int) -> int:
    """Rounds for the refit: the early-stopped count scaled from ``fitted`` to ``learnt`` rows."""
    return int(np.ceil((int(stopped.attr("best_iteration")) + 1) * learnt / fitted))


def calibrated_outcome(
    outcome: str,
    booster: xgb.Booster,
    *,
    calibration: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    base_rate: float,
) -> OutcomeModel:
    """The outcome's model: ``booster`` calibrated on unseen clients, with its risk levels.

    Args:
        outcome: the outcome's name.
        booster: the refitted booster.
        calibration: margins and 0/1 labels of the calibration clients (unseen by it).
        validation: margins and labels of the validation clients; thresholds are chosen on
            both sets (:data:`THRESHOLD_RULE`).
        base_rate: the outcome's rate in the clients the booster learnt from.
    """
    calibrator = MarginCalibrator.fit(*calibration)
    margin = np.concatenate([validation[0], calibration[0]])
    labels = np.concatenate([validation[1], calibration[1]])
    return OutcomeModel(
        outcome=outcome,
        booster=booster,
        calibrator=calibrator,
        thresholds=choose_thresholds(calibrator.probability(margin), labels),
        base_rate=base_rate,
    )


def fit_outcome(
    outcome: str,
    features: np.ndarray,
    labels: np.ndarray,
    clients: np.ndarray,
    *,
    config: TrainingConfig,
    rng: np.random.Generator,
    with_logistic: bool = True,
    penalties: tuple[float, ...] = (0.01, 0.1, 1.0),
) -> FittedOutcome:
    """Fit booster, calibrator, thresholds (and the LR baseline) on one set of clients.

    ``penalties`` are the logistic-regression penalties tried on the validation split;
    cross-validation passes the one the main fit chose, so each fold fits LR once.
    """
    fit, valid, calibrate = _split_clients(clients, (0.75, 0.125, 0.125), rng)
    stopped = fit_booster(
        outcome=outcome,
        train_features=features[fit],
        train_labels=labels[fit],
        valid_features=features[valid],
        valid_labels=labels[valid],
        settings=config.booster,
    )
    # Early stopping chose the number of trees; refit with it (scaled to the larger set) on
    # the fit and validation clients together. Calibration clients stay unseen.
    learnt = fit | valid
    booster = refit_booster(
        outcome=outcome,
        features=features[learnt],
        labels=labels[learnt],
        rounds=refit_rounds(stopped, fitted=int(fit.sum()), learnt=int(learnt.sum())),
        settings=config.booster,
    )
    model = calibrated_outcome(
        outcome,
        booster,
        calibration=(booster_margin(booster, features[calibrate]), labels[calibrate]),
        validation=(booster_margin(booster, features[valid]), labels[valid]),
        base_rate=float(labels[learnt].mean()),
    )
    logistic = None
    if with_logistic:
        chosen = fit_logistic_baseline(
            train_features=features[fit],
            train_labels=labels[fit],
            valid_features=features[valid],
            valid_labels=labels[valid],
            penalties=penalties,
        )
        # The same treatment as the booster: refit on fit + validation clients.
        logistic = chosen.fit(features[learnt], labels[learnt])
    return FittedOutcome(model=model, logistic=logistic)


def _rule_scores(features: np.ndarray) -> dict[str, np.ndarray]:
    flags = signal_flags(features)
    return {name: flags[name].astype(float) for name in RULE_BASELINES}


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
    landmarks = build_landmarks(clients, sessions, max_landmark=config.max_landmark)
    features = compute_features(landmarks.history)
    examples = landmarks.examples
    client_ids = examples["client_id"].to_numpy(dtype=object).astype(str)
    test = is_test_client(client_ids, share=config.test_share)
    rng = np.random.default_rng(config.seed)

    fitted: dict[str, FittedOutcome] = {}
    metrics: dict[str, dict[str, object]] = {}
    tables: dict[str, pd.DataFrame] = {}
    predictions: dict[str, pd.DataFrame] = {}
    importance: dict[str, dict[str, dict[str, float]]] = {}
    held_out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    counts = training_counts(clients, examples)
    for outcome in OUTCOMES:
        labelled = examples[outcome].notna().to_numpy()
        labels = examples[outcome].fillna(False).to_numpy(dtype=float)
        train_rows, test_rows = labelled & ~test, labelled & test
        progress(f"{outcome}: fitting on {train_rows.sum():,} landmarks")
        fitted[outcome] = fit_outcome(
            outcome, features[train_rows], labels[train_rows], client_ids[train_rows],
            config=config, rng=rng,
        )  # fmt: skip
        progress(f"{outcome}: evaluating on {test_rows.sum():,} held-out landmarks")
        evaluation = evaluate_held_out(
            fitted[outcome], features[test_rows], labels[test_rows],
            examples.loc[test_rows].reset_index(drop=True), config=config,
        )  # fmt: skip
        held_out[outcome] = evaluation.held_out
        metrics[outcome] = {"test": evaluation.metrics}
        predictions[outcome] = evaluation.predictions
        tables |= evaluation.tables
        importance[outcome] = evaluation.importance
        if config.cv_folds > 1:
            progress(f"{outcome}: {config.cv_folds}-fold client-grouped cross-validation")
            penalty = fitted[outcome].logistic[-1].C if fitted[outcome].logistic else 1.0
            metrics[outcome]["cross_validation"] = _cross_validate(
                outcome, features[train_rows], labels[train_rows], client_ids[train_rows],
                config, penalty=penalty,
            )  # fmt: skip
        if config.leave_one_clinic_out:
            progress(f"{outcome}: leave-one-clinic-out")
            tables[f"{outcome}_leave_one_clinic_out"] = _leave_one_clinic_out(
                outcome, features[labelled], labels[labelled], examples.loc[labelled], config
            )
    progress("profiling the training population (the reference for drift monitoring)")
    training_rows = features[~test]
    reference = reference_profile(
        training_rows, {o: fitted[o].model.probability(training_rows) for o in OUTCOMES}
    )
    model = RiskModel(
        dropout=fitted["dropout"].model,
        poor_outcome=fitted["poor_outcome"].model,
        max_landmark=config.max_landmark,
        metadata={
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "counts": counts,
            "config": {"max_landmark": config.max_landmark, "seed": config.seed},
            "reference": reference,
        },
    )
    baselines = {o: f.logistic for o, f in fitted.items() if f.logistic is not None}
    return TrainingResult(
        model, baselines, metrics, tables, counts, predictions, importance, held_out
    )


@dataclass(frozen=True)
class HeldOutEvaluation:
    """One outcome's model judged on the held-out test clients (see :func:`train`)."""

    metrics: dict[str, object]
    predictions: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    importance: dict[str, dict[str, float]]
    held_out: tuple[np.ndarray, np.ndarray, np.ndarray]


def evaluate_held_out(
    fitted: FittedOutcome,
    features: np.ndarray,
    labels: np.ndarray,
    examples: pd.DataFrame,
    *,
    config: TrainingConfig,
) -> HeldOutEvaluation:
    """Metrics with bootstrap CIs, subgroup tables and global importance on the test clients.

    Args:
        fitted: the outcome's fitted model (and LR baseline, if any).
        features: feature rows of the outcome's labelled test landmarks.
        labels: their 0/1 labels.
        examples: their rows of :attr:`features.landmarks.LandmarkSet.examples`.
        config: the run's options (bootstrap replicates, seed).
    """
    outcome = fitted.model.outcome
    scores = _test_scores(fitted, features)
    thresholds = {
        "moderate": fitted.model.thresholds.moderate,
        "high": fitted.model.thresholds.high,
    }
    ids = examples["client_id"].to_numpy(dtype=object).astype(str)
    metrics = {
        name: bootstrap_metrics(
            labels, p, ids, thresholds=thresholds, replicates=config.bootstrap, seed=config.seed
        )
        for name, p in scores.items()
    }
    predictions = examples.assign(
        label=labels, **{f"{name}_probability": p for name, p in scores.items()}
    )
    tables = _subgroup_tables(outcome, examples, labels, scores["xgboost"], thresholds, config)
    explanation = explain(fitted.model.booster, fitted.model.calibrator, features)
    return HeldOutEvaluation(
        metrics=metrics,
        predictions=predictions,
        tables=tables,
        importance=global_importance(explanation),
        held_out=(features, labels, ids),
    )


def _test_scores(fitted: FittedOutcome, features: np.ndarray) -> dict[str, np.ndarray]:
    scores = {"xgboost": fitted.model.probability(features)}
    if fitted.logistic is not None:
        scores["logistic"] = fitted.logistic.predict_proba(features)[:, 1]
    return scores | _rule_scores(features)


def _subgroup_tables(
    outcome: str,
    examples: pd.DataFrame,
    labels: np.ndarray,
    probability: np.ndarray,
    thresholds: dict[str, float],
    config: TrainingConfig,
) -> dict[str, pd.DataFrame]:
    ids = examples["client_id"].to_numpy(dtype=object)
    groupings = {
        "landmark": examples["as_of_session"].astype("string"),
        "gender": examples["gender"].astype("string"),
        "age_band": age_band(examples["age"]),
        "primary_concern": examples["primary_concern"].astype("string"),
        "clinic": examples["clinic_id"].astype("string"),
    }
    replicates = max(config.bootstrap // 2, 0)
    tables = {}
    for name, by in groupings.items():
        tables[f"{outcome}_by_{name}"] = metrics_frame(
            labels, probability, ids, by=by, thresholds=thresholds,
            replicates=replicates, seed=config.seed,
        )  # fmt: skip
    return tables


def _cross_validate(
    outcome: str,
    features: np.ndarray,
    labels: np.ndarray,
    clients: np.ndarray,
    config: TrainingConfig,
    *,
    penalty: float,
) -> dict[str, object]:
    """Out-of-fold metrics of booster and LR over client-grouped folds."""
    rng = np.random.default_rng(config.seed + 1)
    folds = _split_clients(clients, (1.0,) * config.cv_folds, rng)
    out_of_fold = {"xgboost": np.zeros(len(labels)), "logistic": np.zeros(len(labels))}
    per_fold = []
    for fold in folds:
        fitted = fit_outcome(
            outcome, features[~fold], labels[~fold], clients[~fold], config=config, rng=rng,
            penalties=(penalty,),
        )  # fmt: skip
        scores = _test_scores(fitted, features[fold])
        for name in out_of_fold:
            out_of_fold[name][fold] = scores[name]
        per_fold.append(point_metrics(labels[fold], scores["xgboost"])["auroc"])
    return {name: point_metrics(labels, p) for name, p in out_of_fold.items()} | {
        "xgboost_fold_auroc": per_fold
    }


def _leave_one_clinic_out(
    outcome: str,
    features: np.ndarray,
    labels: np.ndarray,
    examples: pd.DataFrame,
    config: TrainingConfig,
) -> pd.DataFrame:
    """Train on every other clinic, test on the one left out: transfer to an unseen clinic."""
    clinics = examples["clinic_id"].to_numpy(dtype=object).astype(str)
    clients = examples["client_id"].to_numpy(dtype=object).astype(str)
    rng = np.random.default_rng(config.seed + 2)
    rows = []
    for clinic in sorted(set(clinics)):
        held_out = clinics == clinic
        y = labels[held_out]
        row: dict[str, object] = {
            "clinic": clinic,
            "n": int(held_out.sum()),
            "events": int(y.sum()),
        }
        if 0 < y.sum() < len(y) and (~held_out).sum() > 0:
            fitted = fit_outcome(
                outcome, features[~held_out], labels[~held_out], clients[~held_out],
                config=config, rng=rng, with_logistic=False,
            )  # fmt: skip
            row |= point_metrics(y, fitted.model.probability(features[held_out]))
        rows.append(row)
    return pd.DataFrame(rows)


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
