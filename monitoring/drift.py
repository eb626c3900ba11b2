"""Input drift: how far new data has moved from the training population's profile.

:func:`drift_against` compares the features of stored assessments with the profile that
training stored in the bundle (:mod:`models.profile`) by the population stability index
(PSI), the usual drift statistic of credit and clinical scorecards: below 0.1 stable, 0.1 to
0.25 a moderate shift, above 0.25 a major one (Yurdakul 2018, "Statistical properties of
population stability index").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from features.engineering import FEATURE_INDEX
from models.profile import Binned, availability_binned, measure_availability, score_binned

# A bin with no rows on one side would make PSI infinite; a floor keeps it finite and large.
_SHARE_FLOOR = 1e-4


def population_stability(reference: Binned, current: Binned) -> float:
    """PSI = sum over bins of (current - reference) * ln(current / reference)."""
    expected = np.maximum(np.asarray(reference.shares), _SHARE_FLOOR)
    actual = np.maximum(np.asarray(current.shares), _SHARE_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


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
            Binned.from_dict(stored), availability_binned(availability[measure])
        )
        for measure, stored in reference_availability.items()
    }
    score_psi = {
        outcome: population_stability(Binned.from_dict(stored), score_binned(scores[outcome]))
        for outcome, stored in reference_scores.items()
    }
    return Drift(features=feature_psi, availability=availability_psi, scores=score_psi)
