"""The training population's profile: the reference that monitoring compares new data with.

At training time :func:`reference_profile` bins every feature at the deciles of the
training landmarks (plus a "not recorded" bin), records how often each measure was
available and bins the calibrated scores; the profile travels inside the model bundle's
metadata. :mod:`monitoring.drift` compares stored assessments with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from features.engineering import FEATURE_INDEX, FEATURE_NAMES
from features.instruments import MEASURE_COLUMNS
from features.vocabulary import OUTCOMES

PROFILE_BINS = 10
_SCORE_EDGES = tuple(round(edge, 2) for edge in np.linspace(0.05, 0.95, 19))


@dataclass(frozen=True)
class Binned:
    """A distribution over value bins cut at ``edges``, with a last "not recorded" bin.

    Attributes:
        edges: Increasing cut points; value ``v`` falls in bin ``searchsorted(edges, v,
            side="right")``, so there are ``len(edges) + 1`` value bins.
        shares: Share of rows in each value bin, then the share not recorded (NaN).
    """

    edges: tuple[float, ...]
    shares: tuple[float, ...]

    @classmethod
    def of(cls, values: np.ndarray, *, edges: tuple[float, ...]) -> Binned:
        """The distribution of ``values`` over ``edges`` (NaN counts as not recorded)."""
        values = np.asarray(values, dtype=float)
        recorded = ~np.isnan(values)
        bins = np.searchsorted(np.asarray(edges), values[recorded], side="right")
        counts = np.bincount(bins, minlength=len(edges) + 1).astype(float)
        counts = np.append(counts, float((~recorded).sum()))
        return cls(edges=edges, shares=tuple((counts / max(len(values), 1)).tolist()))

    def to_dict(self) -> dict[str, list[float]]:
        """JSON form (kept in the bundle's metadata)."""
        return {"edges": list(self.edges), "shares": list(self.shares)}

    @classmethod
    def from_dict(cls, data: Mapping[str, list[float]]) -> Binned:
        """Inverse of :meth:`to_dict`."""
        return cls(edges=tuple(data["edges"]), shares=tuple(data["shares"]))


def decile_edges(values: np.ndarray) -> tuple[float, ...]:
    """Distinct decile cut points of the recorded values (fewer for discrete features)."""
    recorded = values[~np.isnan(values)]
    if len(recorded) == 0:
        return ()
    cuts = np.quantile(recorded, np.linspace(0, 1, PROFILE_BINS + 1)[1:-1])
    return tuple(float(cut) for cut in np.unique(cuts))


def measure_availability(
    features: np.ndarray, *, rows: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Per measure, whether it was recorded at least once in each row's history (of the
    rows at indices ``rows``, all by default)."""
    rows = slice(None) if rows is None else rows
    return {
        measure: ~np.isnan(features[rows, FEATURE_INDEX[f"{measure}_worst"]])
        for measure in MEASURE_COLUMNS
    }


def availability_binned(available: np.ndarray) -> Binned:
    """Whether a measure was available: two bins, not available (0) and available (1)."""
    return Binned.of(available.astype(float), edges=(0.5,))


def score_binned(probability: np.ndarray) -> Binned:
    """Scores in twentieths: fixed bins, so any two models' score mixes can be compared."""
    return Binned.of(probability, edges=_SCORE_EDGES)


def reference_profile(
    features: np.ndarray, scores: Mapping[str, np.ndarray], *, rows: np.ndarray | None = None
) -> dict[str, object]:
    """The training population's profile, JSON-ready for the bundle's metadata.

    Args:
        features: Feature rows (:data:`FEATURE_NAMES` order) that hold the training
            landmarks.
        scores: Calibrated probability of each outcome for the training landmarks.
        rows: Indices of the training landmarks in ``features`` (all rows by default); the
            matrix is read a column at a time, so the rows are never copied out as a whole.
    """
    rows = np.arange(len(features)) if rows is None else np.asarray(rows)

    def column(name: str) -> np.ndarray:
        return np.asarray(features[rows, FEATURE_INDEX[name]], dtype=float)

    return {
        "rows": len(rows),
        "features": {
            name: Binned.of(values, edges=decile_edges(values)).to_dict()
            for name in FEATURE_NAMES
            for values in (column(name),)
        },
        "availability": {
            measure: availability_binned(available).to_dict()
            for measure, available in measure_availability(features, rows=rows).items()
        },
        "scores": {outcome: score_binned(scores[outcome]).to_dict() for outcome in OUTCOMES},
    }
