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
        else {str(g): (by == g).to_numpy() for g in sorted(by.dropna().unique(), key=str)}
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


def age_band(age: pd.Series) -> pd.Series:
    """Age bands for the subgroup table."""
    return pd.cut(
        age.astype(float),
        bins=[15, 24, 39, 59, 101],
        labels=["16-24", "25-39", "40-59", "60+"],
    ).astype("string")
