"""The expected recovery curve: where a symptom score should be by session s.

OQ-Analyst and PCOMS judge progress against an expected treatment response for clients
with the same intake score (domain.md 4.1, 4.2). We use one published shape for every
symptom measure: scores move from the intake score towards the instrument's healthy level,
fast at first and then levelling off (a negatively accelerated, log-linear-like curve as in
Lambert's expected recovery curves, Bybee, Lambert & Eggett 2007):

    expected(s) = intake + (healthy - intake) * SHARE * (1 - exp(-(s - s0) / PACE))

``SHARE`` is the part of the distance to the healthy level that an average client covers in a
full episode and ``PACE`` the number of sessions in which about two thirds of that change
happens. With PHQ-9 intake 17 this expects a fall of about 5 points by session 5 and 8 by
the end, close to the routine-practice pre-post effect of d = 0.96 for depression (Gaskell
et al. 2022) with a PHQ-9 SD of about 6 (Kroenke et al. 2001) (derived).

A client is *not on track* when a score is worse than expected by at least the instrument's
reliable change value: a gap that measurement error alone would rarely produce.
"""

from __future__ import annotations

import numpy as np

from features.instruments import INSTRUMENTS

#: Share of the intake-to-healthy distance an average episode covers (derived, see above).
SHARE = 0.6
#: Sessions over which about two thirds of the expected change happens (derived).
PACE = 4.0


def expected_score(
    measure: str, *, intake_score: np.ndarray | float, sessions_since_intake: np.ndarray | float
) -> np.ndarray:
    """Expected score of ``measure`` after ``sessions_since_intake`` sessions (0 at intake)."""
    instrument = INSTRUMENTS[measure]
    if instrument.healthy_level is None:
        raise ValueError(f"{measure} is not a symptom measure; it has no recovery curve")
    intake = np.asarray(intake_score, dtype=float)
    progress = 1.0 - np.exp(-np.asarray(sessions_since_intake, dtype=float) / PACE)
    return intake + (instrument.healthy_level - intake) * SHARE * progress


def distance_from_expected(
    measure: str,
    *,
    intake_score: np.ndarray | float,
    score: np.ndarray | float,
    sessions_since_intake: np.ndarray | float,
) -> np.ndarray:
    """How far ``score`` is worse than expected, in units of the reliable change value.

    Positive means worse than expected; 1.0 or more means not on track.
    """
    instrument = INSTRUMENTS[measure]
    expected = expected_score(
        measure, intake_score=intake_score, sessions_since_intake=sessions_since_intake
    )
    worse_by = instrument.improvement(np.asarray(score, dtype=float), expected)
    return worse_by / instrument.reliable_change


def expected_band(
    measure: str, *, intake_score: float, sessions: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected score and the on-track band (within one reliable change) by session."""
    instrument = INSTRUMENTS[measure]
    expected = expected_score(measure, intake_score=intake_score, sessions_since_intake=sessions)
    tolerance = instrument.reliable_change
    low = np.clip(expected - tolerance, instrument.low, instrument.high)
    high = np.clip(expected + tolerance, instrument.low, instrument.high)
    return expected, low, high
