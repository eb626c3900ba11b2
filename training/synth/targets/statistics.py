"""Small statistics over (clients, sessions) score arrays, NaN where not recorded."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "cohen_d",
    "correlation",
    "early_mean",
    "first_valid",
    "icc",
    "last_valid",
    "mean_of",
    "standardised",
]


def first_valid(values: np.ndarray) -> np.ndarray:
    """Each row's first recorded value (NaN if none)."""
    present = ~np.isnan(values)
    first = np.argmax(present, axis=1)
    out = values[np.arange(len(values)), first]
    return np.where(present.any(axis=1), out, np.nan)


def last_valid(values: np.ndarray) -> np.ndarray:
    """Each row's last recorded value (NaN if none)."""
    return first_valid(values[:, ::-1])


def mean_of(block: np.ndarray) -> np.ndarray:
    """Each row's mean over its recorded values (NaN if none)."""
    present = ~np.isnan(block)
    total = np.where(present, block, 0.0).sum(axis=1)
    return np.where(present.any(axis=1), total / np.maximum(present.sum(axis=1), 1), np.nan)


def early_mean(values: np.ndarray, *, sessions: int = 3) -> np.ndarray:
    """Mean of each client's scores in the first ``sessions`` sessions (NaN if none)."""
    return mean_of(values[:, :sessions])


def standardised(values: np.ndarray) -> np.ndarray:
    """Values as z-scores over every recorded value of the array."""
    return (values - np.nanmean(values)) / np.nanstd(values)


def cohen_d(higher: np.ndarray, lower: np.ndarray) -> float:
    """Standardised mean difference (pooled SD) of two groups; NaN with under two each."""
    higher, lower = higher[~np.isnan(higher)], lower[~np.isnan(lower)]
    if len(higher) < 2 or len(lower) < 2:
        return float("nan")
    pooled = np.sqrt(
        ((len(higher) - 1) * higher.var(ddof=1) + (len(lower) - 1) * lower.var(ddof=1))
        / (len(higher) + len(lower) - 2)
    )
    return float((higher.mean() - lower.mean()) / pooled)


def correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r over the pairs where both are recorded; NaN with under three pairs."""
    keep = ~np.isnan(x) & ~np.isnan(y)
    if keep.sum() < 3:
        return float("nan")
    return float(np.corrcoef(x[keep], y[keep])[0, 1])


def icc(values: np.ndarray, groups: np.ndarray) -> float:
    """One-way random-effects ICC(1) of ``values`` by ``groups`` (ANOVA estimator)."""
    keep = ~np.isnan(values)
    frame = pd.DataFrame({"v": values[keep], "g": groups[keep]})
    stats = frame.groupby("g")["v"].agg(["count", "mean"])
    n, k = len(frame), len(stats)
    grand = frame["v"].mean()
    between = np.sum(stats["count"] * (stats["mean"] - grand) ** 2) / (k - 1)
    within = np.sum((frame["v"] - frame["g"].map(stats["mean"])) ** 2) / (n - k)
    size = (n - np.sum(stats["count"] ** 2) / n) / (k - 1)
    return float((between - within) / (between + (size - 1) * within))
