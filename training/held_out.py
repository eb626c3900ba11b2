"""Judging a fitted outcome model: held-out test clients, cross-validation, unseen clinics.

The test clients' metrics carry client-cluster bootstrap intervals, per subgroup too, beside
the same metrics for the logistic-regression baseline and the rule-based signals
(:data:`RULE_BASELINES`) that a clinic would otherwise use. Cross-validation and
leave-one-clinic-out repeat :func:`training.fitting.fit_outcome` on other client splits.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.signals import rule_flags
from models.estimators import baseline_probability
from models.explanations import explain, global_importance
from models.metrics import bootstrap_metrics, point_metrics
from models.risk_levels import summarise_levels
from training.evaluation import age_band, decision_curve, interval_validity, metrics_frame
from training.fitting import FittedOutcome, TrainingConfig, at_most, fit_outcome, split_clients

RULE_BASELINES = ("srs_below_cutoff", "not_on_track")
#: Held-out landmarks whose explanations give the global importance, at most: a mean of
#: absolute contributions, as good from a random 50,000 as from millions (TreeSHAP's cost
#: grows with rows times trees).
IMPORTANCE_ROWS = 50_000


def rule_scores(features: np.ndarray) -> dict[str, np.ndarray]:
    """The rule-based signals of :data:`RULE_BASELINES` as 0/1 scores, judged like a model."""
    flags = rule_flags(features)
    return {name: flags[name].astype(float) for name in RULE_BASELINES}


@dataclass(frozen=True)
class HeldOut:
    """Held-out features, labels, client and clinic ids of one outcome (the gate's ground)."""

    features: np.ndarray
    labels: np.ndarray
    clients: np.ndarray
    clinics: np.ndarray | None = None


@dataclass(frozen=True)
class HeldOutEvaluation:
    """One outcome's model judged on the held-out test clients (as the pipeline trains it)."""

    metrics: dict[str, object]
    predictions: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    importance: dict[str, dict[str, float]]
    held_out: HeldOut
    fitted: FittedOutcome


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
    tables[f"{outcome}_decision_curve"] = decision_curve(labels, scores["xgboost"])
    tables[f"{outcome}_interval_validity"] = interval_validity(
        labels, *fitted.model.interval.bounds(scores["xgboost"])
    )
    explained = at_most(np.arange(len(features)), IMPORTANCE_ROWS, seed=config.seed)
    explanation = explain(
        fitted.model.booster,
        fitted.model.calibrator,
        features[explained],
        tables=fitted.model.shap_tables,
    )
    # What each risk level meant on these clients travels with the model (card, API, cards).
    thresholds = summarise_levels(
        fitted.model.thresholds,
        scores["xgboost"],
        labels,
        ids,
        examples["as_of_session"].to_numpy(),
    )
    model = dataclasses.replace(fitted.model, thresholds=thresholds)
    return HeldOutEvaluation(
        metrics=metrics,
        predictions=predictions,
        tables=tables,
        importance=global_importance(explanation),
        held_out=HeldOut(
            features=features,
            labels=labels,
            clients=ids,
            clinics=examples["clinic_id"].to_numpy(dtype=object).astype(str),
        ),
        fitted=dataclasses.replace(fitted, model=model),
    )


def _test_scores(fitted: FittedOutcome, features: np.ndarray) -> dict[str, np.ndarray]:
    scores = {"xgboost": fitted.model.probability(features)}
    if fitted.logistic is not None:
        scores["logistic"] = baseline_probability(fitted.logistic, features)
    return scores | rule_scores(features)


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
        "landmark": examples["as_of_session"].astype("int64"),
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


def cross_validate(
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
    folds = split_clients(clients, (1.0,) * config.cv_folds, rng)
    out_of_fold = {"xgboost": np.zeros(len(labels)), "logistic": np.zeros(len(labels))}
    per_fold = []
    for fold in folds:
        fitted = fit_outcome(
            outcome, features, labels[~fold], clients[~fold], config=config, rng=rng,
            penalties=(penalty,), refit=False, rows=np.flatnonzero(~fold),
        )  # fmt: skip
        scores = _test_scores(fitted, features[fold])
        for name in out_of_fold:
            out_of_fold[name][fold] = scores[name]
        per_fold.append(point_metrics(labels[fold], scores["xgboost"])["auroc"])
    return {name: point_metrics(labels, p) for name, p in out_of_fold.items()} | {
        "xgboost_fold_auroc": per_fold
    }


@dataclass(frozen=True)
class LeaveOneClinicOut:
    """Transfer to unseen clinics: per clinic metrics, and the intervals pooled over clinics."""

    table: pd.DataFrame
    interval_validity: pd.DataFrame


def leave_one_clinic_out(
    outcome: str,
    features: np.ndarray,
    labels: np.ndarray,
    examples: pd.DataFrame,
    config: TrainingConfig,
) -> LeaveOneClinicOut:
    """Train on every other clinic, test on the one left out: transfer to an unseen clinic."""
    clinics = examples["clinic_id"].to_numpy(dtype=object).astype(str)
    clients = examples["client_id"].to_numpy(dtype=object).astype(str)
    rng = np.random.default_rng(config.seed + 2)
    rows = []
    unseen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
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
                outcome, features, labels[~held_out], clients[~held_out], config=config,
                rng=rng, with_logistic=False, refit=False, rows=np.flatnonzero(~held_out),
            )  # fmt: skip
            probability = fitted.model.probability(features[held_out])
            row |= point_metrics(y, probability)
            unseen.append((y, *fitted.model.interval.bounds(probability)))
        rows.append(row)
    validity = (
        interval_validity(*(np.concatenate(parts) for parts in zip(*unseen, strict=True)))
        if unseen
        else pd.DataFrame()
    )
    return LeaveOneClinicOut(table=pd.DataFrame(rows), interval_validity=validity)
