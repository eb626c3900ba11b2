"""One outcome's fitting step: client splits, booster, calibration, risk levels, LR baseline.

The held-out test clients are chosen by a hash of the client id (:func:`is_test_client`), so
every retraining on the same clinic's data holds out the same clients. Within the training
clients, a second, random client split (:func:`split_clients`) gives early-stopping
(validation) and calibration data. :func:`fit_outcome` is the one fitting step that the
pipeline, cross-validation and leave-one-clinic-out all repeat.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.pipeline import Pipeline

from features.vocabulary import DEFAULT_LANDMARKS
from models.bundle import OutcomeModel
from models.calibration import MarginCalibrator
from models.estimators import (
    BoosterSettings,
    booster_margin,
    fit_booster,
    fit_logistic_baseline,
    refit_booster,
)
from models.intervals import VennAbersInterval
from models.risk_levels import AlertBudget, choose_thresholds


@dataclass(frozen=True)
class TrainingConfig:
    """Options of one training run."""

    max_landmark: int = DEFAULT_LANDMARKS
    test_share: float = 0.2
    cv_folds: int = 5
    leave_one_clinic_out: bool = True
    bootstrap: int = 200
    seed: int = 0
    #: Landmarks the logistic-regression baseline learns from, at most (:func:`fit_baseline`).
    baseline_rows: int = 100_000
    #: Fit landmarks from which the early-stopped booster is kept as it is (:func:`refits`).
    keep_stopped_from: int = 1_000_000
    booster: BoosterSettings = field(default_factory=BoosterSettings)
    alert_budget: AlertBudget = field(default_factory=AlertBudget)


@dataclass(frozen=True)
class FittedOutcome:
    """What :func:`fit_outcome` produces for one outcome."""

    model: OutcomeModel
    logistic: Pipeline | None


def is_test_client(client_ids: pd.Series | np.ndarray, *, share: float) -> np.ndarray:
    """Whether each client belongs to the held-out test split (stable across runs)."""
    buckets = np.array(
        [int(hashlib.sha256(str(c).encode()).hexdigest()[:8], 16) % 10_000 for c in client_ids]
    )
    return buckets < share * 10_000


def split_clients(clients: np.ndarray, shares: tuple[float, ...], rng: np.random.Generator):
    """Random client-disjoint parts with the given shares: one boolean mask per part."""
    unique = np.unique(clients)
    order = rng.permutation(len(unique))
    bounds = np.floor(np.cumsum((0, *shares)) / sum(shares) * len(unique)).astype(int)
    part = np.empty(len(unique), dtype=int)
    for index in range(len(shares)):
        part[order[bounds[index] : bounds[index + 1]]] = index
    lookup = part[np.searchsorted(unique, clients)]
    return [lookup == index for index in range(len(shares))]


def at_most(rows: np.ndarray, count: int, *, seed: int) -> np.ndarray:
    """``rows``, or a random ``count`` of them (in their order): a bounded sample for a
    statistic that gains nothing from more rows (a stable draw for a given seed)."""
    if len(rows) <= count:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, size=count, replace=False))


def refits(fit_landmarks: int, *, config: TrainingConfig) -> bool:
    """Whether the early-stopped booster is refitted on fit and validation clients together.

    The refit lets the validation clients (a seventh more data) teach the served booster, at
    the cost of growing every tree again. With millions of fit landmarks that seventh adds
    nothing measurable while the refit doubles the boosting time: at a million clients
    (L = 12, about 4M fit landmarks) the early-stopped boosters' held-out AUROC was within
    0.0002 of the refitted ones' (0.8133 and 0.8745 against 0.8134 and 0.8747), where at
    100,000 clients the refit added 0.0010 and 0.0002 (docs/speed.md, "One machine, a
    million clients"). So from
    :attr:`TrainingConfig.keep_stopped_from` fit landmarks the early-stopped booster is
    served as it is; smaller cohorts, where every client counts, are refitted.
    """
    return fit_landmarks < config.keep_stopped_from


def refit_rounds(stopped: xgb.Booster, *, fitted: int, learnt: int) -> int:
    """Rounds for the refit: the early-stopped count scaled from ``fitted`` to ``learnt`` rows."""
    return int(np.ceil((int(stopped.attr("best_iteration")) + 1) * learnt / fitted))


def calibrated_outcome(
    outcome: str,
    booster: xgb.Booster,
    *,
    calibration: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    clients: np.ndarray,
    base_rate: float,
    budget: AlertBudget,
) -> OutcomeModel:
    """The outcome's model: ``booster`` calibrated on unseen clients, with its risk levels.

    Args:
        outcome: the outcome's name.
        booster: the refitted booster.
        calibration: margins and 0/1 labels of the calibration clients (unseen by it).
        validation: margins and labels of the validation clients; thresholds are chosen on
            both sets for the alert budget (:func:`models.risk_levels.choose_thresholds`).
        clients: client ids of the validation rows, then of the calibration rows.
        base_rate: the outcome's rate in the clients the booster learnt from.
        budget: the share of assessments each risk level may take.
    """
    calibrator = MarginCalibrator.fit(*calibration)
    margin = np.concatenate([validation[0], calibration[0]])
    return OutcomeModel(
        outcome=outcome,
        booster=booster,
        calibrator=calibrator,
        thresholds=choose_thresholds(calibrator.probability(margin), clients, budget=budget),
        base_rate=base_rate,
        # On the calibration clients too: the interval's guarantee needs clients the
        # booster never learnt from.
        interval=VennAbersInterval.fit(calibrator.probability(calibration[0]), calibration[1]),
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
    refit: bool = True,
    rows: np.ndarray | None = None,
) -> FittedOutcome:
    """Fit booster, calibrator, thresholds (and the LR baseline) on one set of clients.

    ``rows`` are the indices into ``features`` of the rows that ``labels`` and ``clients``
    describe (all rows by default): the rows are read from the matrix block by block,
    never copied out as a whole. ``penalties`` are the logistic-regression penalties tried
    on the validation split; cross-validation passes the one the main fit chose, so each
    fold fits LR once. ``refit=False`` keeps the early-stopped booster (trained on the fit
    clients alone) instead of refitting it on fit and validation clients:
    cross-validation and leave-one-clinic-out use it, which halves their cost and, with a
    little less data per model, errs towards underrating the served model, never
    overrating it. Large cohorts keep it too (:func:`refits`).
    """
    index = np.arange(len(features)) if rows is None else np.asarray(rows)
    fit, valid, calibrate = split_clients(clients, (0.75, 0.125, 0.125), rng)
    stopped = fit_booster(
        outcome=outcome,
        train_features=features,
        train_labels=labels[fit],
        valid_features=features,
        valid_labels=labels[valid],
        settings=config.booster,
        train_rows=index[fit],
        valid_rows=index[valid],
    )
    # Early stopping chose the number of trees; refit with it (scaled to the larger set) on
    # the fit and validation clients together. Calibration clients stay unseen.
    refit = refit and refits(int(fit.sum()), config=config)
    learnt = fit | valid
    booster = (
        refit_booster(
            outcome=outcome,
            features=features,
            labels=labels[learnt],
            rounds=refit_rounds(stopped, fitted=int(fit.sum()), learnt=int(learnt.sum())),
            settings=config.booster,
            rows=index[learnt],
        )
        if refit
        else stopped
    )
    model = calibrated_outcome(
        outcome,
        booster,
        calibration=(booster_margin(booster, features, rows=index[calibrate]), labels[calibrate]),
        validation=(booster_margin(booster, features, rows=index[valid]), labels[valid]),
        clients=np.concatenate([clients[valid], clients[calibrate]]),
        base_rate=float(labels[learnt if refit else fit].mean()),
        budget=config.alert_budget,
    )
    logistic = None
    if with_logistic:
        logistic = fit_baseline(
            features, labels, index, fit=fit, valid=valid, config=config, penalties=penalties
        )
    return FittedOutcome(model=model, logistic=logistic)


def fit_baseline(
    features: np.ndarray,
    labels: np.ndarray,
    index: np.ndarray,
    *,
    fit: np.ndarray,
    valid: np.ndarray,
    config: TrainingConfig,
    penalties: tuple[float, ...],
) -> Pipeline:
    """The logistic-regression baseline, treated like the booster: its penalty chosen on the
    validation clients, then refitted on fit and validation clients together.

    Each step learns from at most :attr:`TrainingConfig.baseline_rows` landmarks of those
    clients, drawn at random (a baseline of about two hundred coefficients gains nothing
    from millions of rows, and its solver's cost grows with them).
    """
    fit_rows, valid_rows, learnt_rows = (
        at_most(np.flatnonzero(mask), config.baseline_rows, seed=config.seed)
        for mask in (fit, valid, fit | valid)
    )
    chosen = fit_logistic_baseline(
        train_features=features[index[fit_rows]],
        train_labels=labels[fit_rows],
        valid_features=features[index[valid_rows]],
        valid_labels=labels[valid_rows],
        penalties=penalties,
    )
    return chosen.fit(features[index[learnt_rows]], labels[learnt_rows])
