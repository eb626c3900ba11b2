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
        poor, labelled = _poor_probability(
            first={c: v[active] for c, v in self._first.items()},
            last={c: v[active] for c, v in self._last.items()},
            count={c: v[active] for c, v in self._count.items()},
            params=self._params,
        )
        end_weight = (leave_weight + complete_weight)[active] * labelled
        self._poor_numerator[active] += end_weight * poor
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


#: Measurement-error draws per score for the poor-outcome probability (common random
#: numbers: the same draws for every client, so the oracle is deterministic).
_ERROR_DRAWS = 64


def _poor_probability(
    *,
    first: dict[str, np.ndarray],
    last: dict[str, np.ndarray],
    count: dict[str, np.ndarray],
    params: SimulationParams,
) -> tuple[np.ndarray, np.ndarray]:
    """P(poor outcome) under the contract's rule (revision 2), and whether a measure applies.

    Given the true first and last scores, the recorded ones differ by measurement error
    (normal, then rounded and clipped as the instrument is scored). Whether the first
    recorded scores are in the clinical range and whether the change is reliable both
    depend on the same error, so the probability is integrated by Monte Carlo over
    :data:`_ERROR_DRAWS` draws of the first and last errors of each measure.
    """
    usable = {column: count[column] >= 2 for column in OUTCOME_MEASURES}
    uses_talking = usable["phq9"] | usable["gad7"]
    chosen = {
        ("phq9", "gad7"): uses_talking,
        ("oq45",): ~uses_talking & usable["oq45"],
        ("ors",): ~uses_talking & ~usable["oq45"] & usable["ors"],
    }
    draws = np.random.default_rng(20261205).standard_normal(
        (2, len(OUTCOME_MEASURES), _ERROR_DRAWS)
    )
    poor = np.zeros(len(uses_talking))
    for measures, rows in chosen.items():
        if not rows.any():
            continue
        shape = (int(rows.sum()), _ERROR_DRAWS)
        start, end = np.zeros(shape, bool), np.zeros(shape, bool)
        better, worse = np.zeros(shape, bool), np.zeros(shape, bool)
        for column in measures:
            instrument = INSTRUMENTS[column]
            m = OUTCOME_MEASURES.index(column)
            sd = score_noise_sd(instrument=instrument, params=params)
            decimals = 0 if instrument.integer else 1
            first_seen, last_seen = (
                np.clip(
                    np.round(true[rows][:, None] + sd * draws[which, m][None, :], decimals),
                    instrument.low,
                    instrument.high,
                )
                for which, true in enumerate((first[column], last[column]))
            )
            take = usable[column][rows][:, None]
            change = instrument.improvement(first_seen, last_seen)
            start |= take & instrument.in_concern_range(first_seen)
            end |= take & instrument.in_concern_range(last_seen)
            better |= take & (change >= instrument.reliable_change)
            worse |= take & (change <= -instrument.reliable_change)
        recovered = better & ~worse & ~end
        poor[rows] = np.where(start, ~recovered, worse).mean(axis=1)
    return poor, uses_talking | usable["oq45"] | usable["ors"]
