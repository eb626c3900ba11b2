"""Input drift: a profile of the training population, and how far new data has moved from it.

At training time :func:`reference_profile` bins every feature at the deciles of the
training landmarks (plus a "not recorded" bin), records how often each measure was
available and bins the calibrated scores; the profile travels inside the model bundle's
metadata. In production :func:`drift_against` compares the features of stored assessments
with it by the population stability index (PSI), the usual drift statistic of credit and
clinical scorecards: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a major
one (Yurdakul 2018, "Statistical properties of population stability index").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from features.engineering import FEATURE_INDEX, FEATURE_NAMES, OUTCOMES
from features.instruments import MEASURE_COLUMNS

PROFILE_BINS = 10
# A bin with no rows on one side would make PSI infinite; a floor keeps it finite and large.
_SHARE_FLOOR = 1e-4
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


def population_stability(reference: Binned, current: Binned) -> float:
    """PSI = sum over bins of (current - reference) * ln(current / reference)."""
    expected = np.maximum(np.asarray(reference.shares), _SHARE_FLOOR)
    actual = np.maximum(np.asarray(current.shares), _SHARE_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def measure_availability(features: np.ndarray) -> dict[str, np.ndarray]:
    """Per measure, whether it was recorded at least once in each row's history."""
    return {
        measure: ~np.isnan(features[:, FEATURE_INDEX[f"{measure}_worst"]])
        for measure in MEASURE_COLUMNS
    }


def _availability_binned(available: np.ndarray) -> Binned:
    # Two bins: not available (0) and available (1), cut at 0.5.
    return Binned.of(available.astype(float), edges=(0.5,))


def score_binned(probability: np.ndarray) -> Binned:
    """Scores in twentieths: fixed bins, so any two models' score mixes can be compared."""
    return Binned.of(probability, edges=_SCORE_EDGES)


def reference_profile(features: np.ndarray, scores: Mapping[str, np.ndarray]) -> dict[str, object]:
    """The training population's profile, JSON-ready for the bundle's metadata.

    Args:
        features: Feature rows of the training landmarks (:data:`FEATURE_NAMES` order).
        scores: Calibrated probability of each outcome for the same rows.
    """
    return {
        "rows": int(len(features)),
        "features": {
            name: Binned.of(features[:, i], edges=decile_edges(features[:, i])).to_dict()
            for i, name in enumerate(FEATURE_NAMES)
        },
        "availability": {
            measure: _availability_binned(available).to_dict()
            for measure, available in measure_availability(features).items()
        },
        "scores": {outcome: score_binned(scores[outcome]).to_dict() for outcome in OUTCOMES},
    }


@dataclass(frozen=True)
class Drift:
    """PSI of each feature, each measure's availability and each outcome's score."""

    features: dict[str, float]
    availability: dict[str, float]
    scores: dict[str, float]

    def largest(self, count: int = 5) -> list[tuple[str, float]]:
        """The ``count`` largest shifts, named ``feature`` or ``availability:measure``."""
        named = [*self.features.items()]
        named += [(f"availability:{m}", v) for m, v in self.availability.items()]
        return sorted(named, key=lambda item: -item[1])[:count]


def drift_against(
    profile: Mapping[str, object], features: np.ndarray, scores: Mapping[str, np.ndarray]
) -> Drift:
    """How far ``features`` and ``scores`` have moved from the training ``profile``."""
    reference_features: Mapping[str, Mapping] = profile["features"]  # type: ignore[assignment]
    reference_availability: Mapping[str, Mapping] = profile["availability"]  # type: ignore[assignment]
    reference_scores: Mapping[str, Mapping] = profile["scores"]  # type: ignore[assignment]
    feature_psi = {}
    for name, stored in reference_features.items():
        reference = Binned.from_dict(stored)
        current = Binned.of(features[:, FEATURE_INDEX[name]], edges=reference.edges)
        feature_psi[name] = population_stability(reference, current)
    availability = measure_availability(features)
    availability_psi = {
        measure: population_stability(
            Binned.from_dict(stored), _availability_binned(availability[measure])
        )
        for measure, stored in reference_availability.items()
    }
    score_psi = {
        outcome: population_stability(Binned.from_dict(stored), score_binned(scores[outcome]))
        for outcome, stored in reference_scores.items()
    }
    return Drift(features=feature_psi, availability=availability_psi, scores=score_psi)
