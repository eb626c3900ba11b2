"""The oracle: each client's true probability of each label, given its latent state.

The oracle conditions on everything drawn before the episode's ending is decided (latent
traits, therapist and clinic effects, the latent courses over every possible appointment,
the planned length, which appointments the client would miss anyway and which measures
would be missing). It integrates over the rest: the appointment-by-appointment leave or
refer draws and each score's measurement error. It follows the same session steps as the
realised ending (:mod:`training.synth.endings`), in expectation instead of by a draw.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from features.instruments import INSTRUMENTS
from training.synth.observe import OUTCOME_MEASURES, score_noise_sd
from training.synth.params import SimulationParams

__all__ = ["EndingOracle"]


class EndingOracle:
    """Expected endings of one block, accumulated one appointment at a time.

    Call :meth:`step` for every appointment index in order, with that appointment's
    leaving and referral hazards; then :meth:`probabilities` gives the oracle.
    """

    def __init__(
        self,
        *,
        course: dict[str, np.ndarray],
        available: dict[str, np.ndarray],
        params: SimulationParams,
    ) -> None:
        """Start every episode alive, with no outcome score seen yet.

        Args:
            course: the block's latent courses (:func:`training.synth.courses.latent_courses`).
            available: where each outcome measure would be recorded
                (:func:`training.synth.observe.outcome_availability`).
            params: the simulation parameters.
        """
        n = len(course["planned_end"])
        self._course = course
        self._available = available
        self._params = params
        self._leaving_counts = params.dropout_definition in ("unilateral", "either")
        self._attendance_counts = params.dropout_definition in ("min_attended", "either")
        self._survival = np.ones(n)
        self._dropout = np.zeros(n)
        self._labelled_end = np.zeros(n)
        self._poor_numerator = np.zeros(n)
        self._poor_denominator = np.zeros(n)
        # True first and last outcome scores recorded so far, and how many there were.
        self._first = {c: np.zeros(n) for c in OUTCOME_MEASURES}
        self._last = {c: np.zeros(n) for c in OUTCOME_MEASURES}
        self._count = {c: np.zeros(n, dtype=np.int64) for c in OUTCOME_MEASURES}

    def step(
        self,
        *,
        session: int,
        hazard: np.ndarray,
        refer_now: np.ndarray,
        before_end: np.ndarray,
        at_end: np.ndarray,
    ) -> None:
        """Add the chance that each episode ends at appointment index ``session``.

        Args:
            session: the appointment index (0 = intake).
            hazard: per client, the chance of leaving after this appointment.
            refer_now: per client, the chance of being referred on after it.
            before_end: whether the appointment comes before the planned ending.
            at_end: whether it is the planned ending.
        """
        self._see_scores(session=session)
        short = self._course["attended_count"][session] < self._params.dropout_min_attended
        leave_weight = self._survival * hazard * before_end
        complete_weight = self._survival * at_end
        self._dropout += leave_weight * (self._leaving_counts | (self._attendance_counts & short))
        self._dropout += complete_weight * (self._attendance_counts & short)
        self._labelled_end += leave_weight + complete_weight
        # Only episodes that can still end here need the (costly) outcome probability.
        active = np.flatnonzero(session <= self._course["planned_end"])
        improve, labelled = _improvement_probability(
            first={c: v[active] for c, v in self._first.items()},
            last={c: v[active] for c, v in self._last.items()},
            count={c: v[active] for c, v in self._count.items()},
            params=self._params,
        )
        end_weight = (leave_weight + complete_weight)[active] * labelled
        self._poor_numerator[active] += end_weight * (1.0 - improve)
        self._poor_denominator[active] += end_weight
        self._survival = np.where(
            at_end, 0.0, self._survival * (1.0 - (hazard + refer_now) * before_end)
        )

    def probabilities(self) -> tuple[np.ndarray, np.ndarray]:
        """The oracle after the last appointment.

        Returns:
            P(dropout | the episode ends as completed or dropout), and P(poor outcome |
            the episode ends with a poor-outcome label), NaN where no ending could carry
            a poor-outcome label.
        """
        with np.errstate(invalid="ignore", divide="ignore"):
            poor = np.where(
                self._poor_denominator > 0,
                self._poor_numerator / self._poor_denominator,
                np.nan,
            )
        return self._dropout / self._labelled_end, poor

    def _see_scores(self, *, session: int) -> None:
        """Record the true outcome scores of appointment ``session`` where measured."""
        intake, recovered = self._course["intake"], self._course["recovered"]
        remaining = self._course["remaining"][session]
        for column in OUTCOME_MEASURES:
            healthy = recovered[column]
            true_score = healthy + (intake[column] - healthy) * remaining
            here = self._available[column][session]
            count = self._count[column]
            self._first[column] = np.where(here & (count == 0), true_score, self._first[column])
            self._last[column] = np.where(here, true_score, self._last[column])
            count += here


def _improvement_probability(
    *,
    first: dict[str, np.ndarray],
    last: dict[str, np.ndarray],
    count: dict[str, np.ndarray],
    params: SimulationParams,
) -> tuple[np.ndarray, np.ndarray]:
    """P(reliable improvement) on the contract's outcome measure, and whether it applies.

    Integrates each score's measurement error (normal, continuity-corrected for rounding)
    given the true first and last scores.
    """
    better, worse = {}, {}
    for column in OUTCOME_MEASURES:
        instrument = INSTRUMENTS[column]
        spread = np.sqrt(2.0) * score_noise_sd(instrument=instrument, params=params)
        threshold = instrument.reliable_change - (0.5 if instrument.integer else 0.05)
        change = instrument.improvement(first[column], last[column])
        usable = count[column] >= 2
        better[column] = np.where(usable, ndtr((change - threshold) / spread), 0.0)
        worse[column] = np.where(usable, ndtr((-change - threshold) / spread), 0.0)
    # NHS TT rule: PHQ-9 or GAD-7 reliably better and neither reliably worse.
    phq_neither = 1.0 - better["phq9"] - worse["phq9"]
    talking = better["phq9"] * (1.0 - worse["gad7"]) + phq_neither * better["gad7"]
    uses_talking = (count["phq9"] >= 2) | (count["gad7"] >= 2)
    uses_oq = count["oq45"] >= 2
    uses_ors = count["ors"] >= 2
    probability = np.where(uses_talking, talking, np.where(uses_oq, better["oq45"], better["ors"]))
    return probability, uses_talking | uses_oq | uses_ors
