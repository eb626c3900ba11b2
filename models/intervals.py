"""An honest interval on each probability: inductive Venn-Abers predictors.

Platt scaling gives one calibrated probability per client. Venn-Abers (Vovk, Petej and
Fedorova 2015, "Large-scale probabilistic predictors with and without guarantees of
validity", NeurIPS) gives two, ``p0 <= p1``: isotonic regressions of the calibration
clients' outcomes on their scores, fitted once with the new client added as a non-event
and once as an event. The guarantee: if the calibration rows and the new row are
exchangeable (drawn from the same population, in any order), one of ``p0`` and ``p1`` is a
perfectly calibrated probability. The interval is therefore how far calibration alone lets
the estimate move; it narrows where many calibration clients had similar scores and widens
at the extremes, where few did.

What it does not cover: a clinic or period unlike the calibration clients (exchangeability
fails; the model card shows how the intervals held on unseen clinics), the booster's own
sampling error (the ranking of clients is taken as given), and the landmark rows of one
client are not independent of each other.

The served interval is ``[min(p0, p), max(p1, p)]`` with ``p`` the Platt probability, so
that it always contains the point estimate; widening it keeps the guarantee (one end is
still the valid probability or lies beyond it). The isotonic fits are precomputed with the
``venn-abers`` package on scores rounded to 4 decimals; serving is a binary search.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from venn_abers import VennAbers

#: Calibration scores are rounded to this many decimals before the isotonic fits (the
#: package's ``precision``): at most 10,001 distinct values, whatever the cohort's size.
_PRECISION = 4


@dataclass(frozen=True)
class VennAbersInterval:
    """Precomputed inductive Venn-Abers predictor of one outcome.

    Attributes:
        scores: the distinct calibration scores, ascending (the grid).
        lower: ``p0`` of a new score at each grid position.
        upper: ``p1`` of a new score at each grid position.
    """

    scores: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @classmethod
    def fit(cls, probability: np.ndarray, outcome: np.ndarray) -> VennAbersInterval:
        """Fit on calibration clients' probabilities and their 0/1 outcomes."""
        probability = np.asarray(probability, dtype=float)
        outcome = np.asarray(outcome, dtype=int)
        if outcome.min() == outcome.max():
            raise ValueError("calibration data must contain both outcomes")
        two_columns = np.column_stack([1 - probability, probability])
        with warnings.catch_warnings():
            # The package's convex-hull step takes nanmin of all-NaN slices at the ends of
            # the grid by design; the result there is defined and used as such.
            warnings.simplefilter("ignore", RuntimeWarning)
            fitted = VennAbers().fit(two_columns, outcome, precision=_PRECISION)
        return cls(
            scores=np.asarray(fitted.c_, dtype=float),
            lower=np.asarray(fitted.p0_[:, 1], dtype=float),
            upper=np.asarray(fitted.p1_[:, 1], dtype=float),
        )

    def bounds(self, probability: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` for each probability; always ``low <= probability <= high``."""
        probability = np.asarray(probability, dtype=float)
        # The package's own lookup (venn_abers.calc_probs): p0 from the right, p1 from the
        # left of the new score's place among the calibration scores.
        rounded = np.round(probability, _PRECISION)
        p0 = self.lower[np.searchsorted(self.scores, rounded, "right")]
        p1 = self.upper[np.searchsorted(self.scores, rounded, "left")]
        low = np.minimum(np.minimum(p0, p1), probability)
        high = np.maximum(np.maximum(p0, p1), probability)
        return low, high

    def to_dict(self) -> dict[str, list[float]]:
        return {
            "scores": self.scores.tolist(),
            "lower": self.lower.tolist(),
            "upper": self.upper.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> VennAbersInterval:
        return cls(**{name: np.asarray(values, dtype=float) for name, values in data.items()})
