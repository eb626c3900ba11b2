"""Probability calibration on the booster's margin (Platt scaling).

The calibrated log-odds are an affine map of the booster's margin,
``logit(p) = slope * margin + intercept``, fitted by logistic regression on held-out,
client-disjoint data. Calibrating the margin rather than the raw probability keeps the
explanation exact: TreeSHAP contributions sum to the margin, so multiplied by ``slope`` they
sum to the calibrated log-odds (minus the intercept).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit
from sklearn.linear_model import LogisticRegression


def logit(probability: np.ndarray) -> np.ndarray:
    """Log-odds of ``probability``, clipped away from 0 and 1."""
    clipped = np.clip(np.asarray(probability, dtype=float), 1e-12, 1 - 1e-12)
    return np.log(clipped / (1 - clipped))


def sigmoid(log_odds: np.ndarray) -> np.ndarray:
    """Probability of ``log_odds``."""
    return expit(np.asarray(log_odds, dtype=float))


@dataclass(frozen=True)
class MarginCalibrator:
    """``p = sigmoid(slope * margin + intercept)``.

    Attributes:
        slope: multiplier of the booster margin.
        intercept: added to the scaled margin.
    """

    slope: float
    intercept: float

    @classmethod
    def fit(cls, margin: np.ndarray, outcome: np.ndarray) -> MarginCalibrator:
        """Fit on held-out margins and their 0/1 outcomes (nearly unpenalised)."""
        outcome = np.asarray(outcome, dtype=int)
        if outcome.min() == outcome.max():
            raise ValueError("calibration data must contain both outcomes")
        regression = LogisticRegression(C=1e6, max_iter=1000)
        regression.fit(np.asarray(margin, dtype=float).reshape(-1, 1), outcome)
        return cls(slope=float(regression.coef_[0, 0]), intercept=float(regression.intercept_[0]))

    def log_odds(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated log-odds of ``margin``."""
        return self.slope * np.asarray(margin, dtype=float) + self.intercept

    def probability(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probability of ``margin``."""
        return sigmoid(self.log_odds(margin))

    def to_dict(self) -> dict[str, float]:
        return {"slope": self.slope, "intercept": self.intercept}
