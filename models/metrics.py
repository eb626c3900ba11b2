"""Honest metrics: discrimination, calibration and threshold performance with 95% intervals.

Used by training (held-out clients, cross-validation, the promotion gate) and by monitoring
(realised performance once outcomes are reported), so both judge a model the same way.

Intervals come from a client-cluster bootstrap: clients (not landmark rows) are resampled,
because one client's landmarks are not independent. A resample is a vector of weights (how
often each client was drawn), so no data is copied per replicate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.calibration import logit, sigmoid

#: Metrics reported for every model and subgroup, in table order.
METRICS = (
    "auroc",
    "auprc",
    "brier",
    "calibration_slope",
    "calibration_intercept",
    "calibration_in_the_large",
    "ece",
)
ECE_BINS = 10


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate with its 95% interval (NaN where it cannot be estimated)."""

    value: float
    low: float
    high: float


def expected_calibration_error(
    labels: np.ndarray, probability: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """Weighted mean gap between predicted and observed rates over 10 equal-frequency bins.

    Equal-frequency (by weight) rather than equal-width bins: with rates of 10-50% most
    predictions fall in two or three equal-width bins, which hides miscalibration inside
    them; ten bins of a tenth of the rows each judge every part of the range.
    """
    weights = np.ones_like(probability) if weights is None else weights
    order = np.argsort(probability, kind="stable")
    sorted_weights = weights[order]
    before = np.cumsum(sorted_weights) - sorted_weights
    bins = np.empty(len(order), dtype=int)
    bins[order] = np.minimum((before / sorted_weights.sum() * ECE_BINS).astype(int), ECE_BINS - 1)
    predicted = np.bincount(bins, weights * probability, ECE_BINS)
    observed = np.bincount(bins, weights * labels, ECE_BINS)
    return float(np.abs(predicted - observed).sum() / weights.sum())


def calibration_slope_intercept(
    labels: np.ndarray, probability: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, float]:
    """Calibration slope (logistic recalibration) and calibration-in-the-large.

    The slope is ``b`` of ``logit P(y) = a + b * logit(p)``; the intercept is ``a`` of
    ``logit P(y) = a + logit(p)`` (slope fixed at 1). Perfect calibration gives (1, 0).
    Both by Newton's method: a handful of iterations on two parameters.
    """
    weights = np.ones_like(probability) if weights is None else weights
    x = logit(probability)
    ones = np.ones_like(x)
    slope_fit = _newton_logistic([ones, x], labels, weights)
    offset_fit = _newton_logistic([ones], labels, weights, offset=x)
    return float(slope_fit[1]), float(offset_fit[0])


def _newton_logistic(
    columns: list[np.ndarray],
    labels: np.ndarray,
    weights: np.ndarray,
    *,
    offset: np.ndarray | None = None,
    iterations: int = 12,
) -> np.ndarray:
    """Weighted logistic regression of one or two columns by Newton's method.

    Plain weighted sums rather than matrix products: with two parameters, BLAS threading
    costs more than the arithmetic (and fights the bootstrap for the cores).
    """
    coef = np.zeros(len(columns))
    offset = np.zeros(len(labels)) if offset is None else offset
    for _ in range(iterations):
        linear = offset + sum(c * x for c, x in zip(coef, columns, strict=True))
        p = sigmoid(linear)
        residual, curvature = weights * (labels - p), weights * p * (1 - p)
        gradient = np.array([np.sum(residual * x) for x in columns])
        hessian = np.array([[np.sum(curvature * a * b) for b in columns] for a in columns])
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(coef)), gradient)
        coef += step
        if np.abs(step).max() < 1e-6:
            break
    return coef


def _ranking_metrics(
    labels: np.ndarray, probability: np.ndarray, weights: np.ndarray
) -> tuple[float, float]:
    """Weighted AUROC and average precision from one sort (ties count half for AUROC).

    Same definitions as scikit-learn's ``roc_auc_score`` and ``average_precision_score``,
    computed with cumulative sums so a bootstrap replicate costs one pass.
    """
    order = np.argsort(-probability, kind="stable")
    score, y, w = probability[order], labels[order], weights[order]
    # Collapse tied scores: one step of the curves per distinct score.
    last_of_tie = np.r_[np.flatnonzero(np.diff(score) != 0), len(score) - 1]
    true_positive = np.cumsum(w * y)[last_of_tie]
    false_positive = np.cumsum(w * (1 - y))[last_of_tie]
    positives, negatives = true_positive[-1], false_positive[-1]
    tpr = np.r_[0.0, true_positive / positives]
    fpr = np.r_[0.0, false_positive / negatives]
    auroc = float(np.trapezoid(tpr, fpr))
    precision = true_positive / (true_positive + false_positive)
    average_precision = float(np.sum(np.diff(tpr) * precision))
    return auroc, average_precision


def point_metrics(
    labels: np.ndarray,
    probability: np.ndarray,
    *,
    thresholds: Mapping[str, float] | None = None,
    weights: np.ndarray | None = None,
) -> dict[str, float]:
    """Every metric once; threshold metrics for each named cut-off (``p >= cut-off``)."""
    labels = np.asarray(labels, dtype=float)
    probability = np.asarray(probability, dtype=float)
    weights = np.ones_like(labels) if weights is None else weights
    if labels.min() == labels.max():
        return {name: float("nan") for name in METRICS}
    slope, intercept = calibration_slope_intercept(labels, probability, weights)
    auroc, average_precision = _ranking_metrics(labels, probability, weights)
    result = {
        "auroc": auroc,
        "auprc": average_precision,
        "brier": float(np.average((probability - labels) ** 2, weights=weights)),
        "calibration_slope": slope,
        "calibration_intercept": intercept,
        # Observed minus expected event rate: > 0 means the model under-predicts on average.
        "calibration_in_the_large": float(
            np.average(labels, weights=weights) - np.average(probability, weights=weights)
        ),
        "ece": expected_calibration_error(labels, probability, weights),
    }
    for name, cut in (thresholds or {}).items():
        flagged = probability >= cut
        positives = np.sum(weights * labels)
        flagged_weight = np.sum(weights * flagged)
        hits = np.sum(weights * labels * flagged)
        result[f"sensitivity_at_{name}"] = float(hits / positives) if positives else float("nan")
        result[f"ppv_at_{name}"] = float(hits / flagged_weight) if flagged_weight else float("nan")
        result[f"flagged_at_{name}"] = float(flagged_weight / np.sum(weights))
    return result


def bootstrap_metrics(
    labels: np.ndarray,
    probability: np.ndarray,
    clients: np.ndarray,
    *,
    thresholds: Mapping[str, float] | None = None,
    replicates: int = 200,
    seed: int = 0,
) -> dict[str, Estimate]:
    """Point estimate and 95% client-cluster bootstrap interval of every metric.

    Returns:
        ``{metric: Estimate(value, low, high)}``.
    """
    point = point_metrics(labels, probability, thresholds=thresholds)
    codes, _ = pd.factorize(np.asarray(clients))
    n_clients = codes.max() + 1 if len(codes) else 0
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {name: [] for name in point}
    for _ in range(replicates if n_clients > 1 else 0):
        picked = np.bincount(rng.integers(0, n_clients, n_clients), minlength=n_clients)
        weights = picked[codes].astype(float)
        keep = weights > 0
        replicate = point_metrics(
            labels[keep], probability[keep], thresholds=thresholds, weights=weights[keep]
        )
        for name, value in replicate.items():
            draws[name].append(value)
    result = {}
    for name, value in point.items():
        values = np.asarray(draws[name], dtype=float)
        values = values[~np.isnan(values)]
        low, high = np.percentile(values, [2.5, 97.5]) if len(values) else (float("nan"),) * 2
        result[name] = Estimate(value=value, low=float(low), high=float(high))
    return result
