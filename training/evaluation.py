"""Tables of metrics for the model card: one row per subgroup, every metric with its interval.

The metrics themselves are :mod:`models.metrics` (shared with monitoring).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from models.metrics import bootstrap_metrics


def metrics_frame(
    labels: np.ndarray,
    probability: np.ndarray,
    clients: np.ndarray,
    *,
    by: pd.Series | None = None,
    thresholds: Mapping[str, float] | None = None,
    replicates: int = 200,
    seed: int = 0,
    min_positives: int = 10,
) -> pd.DataFrame:
    """One row per group of ``by`` (or one "all" row): n, events and every metric with CI.

    Groups with fewer than ``min_positives`` events or non-events get counts only: their
    metrics would be noise.
    """
    groups = (
        {"all": np.ones(len(labels), dtype=bool)}
        if by is None
        else {str(g): (by == g).to_numpy() for g in _ordered(by.dropna().unique())}
    )
    rows = []
    for group, mask in groups.items():
        y, p = labels[mask], probability[mask]
        row: dict[str, object] = {"group": group, "n": int(mask.sum()), "events": int(y.sum())}
        if min(y.sum(), len(y) - y.sum()) >= min_positives:
            for name, stats in bootstrap_metrics(
                y, p, clients[mask], thresholds=thresholds, replicates=replicates, seed=seed
            ).items():
                row[name] = stats.value
                row[f"{name}_low"] = stats.low
                row[f"{name}_high"] = stats.high
        rows.append(row)
    return pd.DataFrame(rows)


def _ordered(groups: np.ndarray) -> list[object]:
    """Numbers in numeric order (landmark 2 before 10), anything else by its text."""
    if all(isinstance(g, int | np.integer) for g in groups):
        return sorted(groups)
    return sorted(groups, key=str)


def age_band(age: pd.Series) -> pd.Series:
    """Age bands for the subgroup table."""
    return pd.cut(
        age.astype(float),
        bins=[15, 24, 39, 59, 101],
        labels=["16-24", "25-39", "40-59", "60+"],
    ).astype("string")


#: Threshold probabilities of the decision curve: from "flag if 1 in 20" to "flag if 1 in 2".
DECISION_THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)


def decision_curve(
    labels: np.ndarray,
    probability: np.ndarray,
    *,
    thresholds: tuple[float, ...] = DECISION_THRESHOLDS,
) -> pd.DataFrame:
    """Net benefit of flagging by the model against flagging everyone and no one.

    Net benefit at threshold probability ``t`` (Vickers and Elkin 2006): true positives per
    assessment minus false positives per assessment weighted by ``t / (1 - t)``, the harm
    of a needless flag a clinician accepts when acting at ``t``. Flagging no one is 0.
    """
    labels = np.asarray(labels, dtype=float)
    n, prevalence = len(labels), float(np.mean(labels))
    rows = []
    for t in thresholds:
        odds = t / (1 - t)
        flagged = probability >= t
        true_positive = float(np.sum(flagged & (labels == 1))) / n
        false_positive = float(np.sum(flagged & (labels == 0))) / n
        rows.append(
            {
                "threshold": t,
                "model": true_positive - false_positive * odds,
                "flag_all": prevalence - (1 - prevalence) * odds,
                "flag_none": 0.0,
                "flagged": float(flagged.mean()),
            }
        )
    return pd.DataFrame(rows)


def interval_validity(
    labels: np.ndarray, low: np.ndarray, high: np.ndarray, *, bins: int = 10
) -> pd.DataFrame:
    """Observed rates against the probability intervals, in bins of equal size.

    Rows are sorted by the middle of their interval and cut into ``bins`` equal groups; a
    bin's intervals hold when its observed rate lies between its mean lower and mean upper
    end (the Venn-Abers guarantee is about such averages, not about single clients), or
    within two binomial standard errors of that range: an observed rate is itself an
    estimate, and a bin of a few hundred rows cannot tell a gap smaller than its noise.
    """
    middle = (np.asarray(low) + np.asarray(high)) / 2
    order = np.argsort(middle, kind="stable")
    rows = []
    for number, part in enumerate(np.array_split(order, bins), start=1):
        if len(part) == 0:
            continue
        observed = float(np.mean(labels[part]))
        mean_low, mean_high = float(np.mean(low[part])), float(np.mean(high[part]))
        noise = 2 * np.sqrt(observed * (1 - observed) / len(part))
        rows.append(
            {
                "bin": number,
                "n": len(part),
                "mean_low": mean_low,
                "mean_high": mean_high,
                "observed": observed,
                "inside": mean_low <= observed <= mean_high,
                "holds": mean_low - noise <= observed <= mean_high + noise,
            }
        )
    return pd.DataFrame(rows)
