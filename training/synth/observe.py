"""Observation: the latent block as a clinic records it.

Appointments get dates, the episode a termination, and each attended session the scores
of the clinic's instruments: the true score plus measurement error (the instrument's SEM
from :mod:`features.instruments`), rounded as the instrument is scored and clipped to its
range. Measures are missing at random: whole forms, single measures at the clinic's rate,
and every measure at a missed appointment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.instruments import INSTRUMENTS, MEASURE_COLUMNS, SELF_HARM_ITEM, Instrument
from training.synth.params import SimulationParams
from training.synth.setting import Setting

__all__ = ["OUTCOME_MEASURES", "Block", "observe", "outcome_availability", "score_noise_sd"]

#: The symptom measures whose true score follows the latent symptom course.
OUTCOME_MEASURES = ("phq9", "gad7", "oq45", "ors")


@dataclass
class Block:
    """Client-level arrays (n,) and flattened session arrays (rows,) of one block.

    Attributes:
        client: per client of the block, observed fields, oracle and latent values.
        session: per kept appointment row (client-major), the block-local client index
            (``client``), session number, day, attendance and every measure.
    """

    client: dict[str, np.ndarray]
    session: dict[str, np.ndarray]


def score_noise_sd(*, instrument: Instrument, params: SimulationParams) -> float:
    """SD of one administration's error: the instrument's SEM plus occasion-specific noise."""
    sem = instrument.measurement_sem or 0.0
    occasion = params.ors_occasion_sd if instrument.column == "ors" else 0.0
    return float(np.hypot(sem, occasion))


def outcome_availability(
    *,
    base: dict[str, np.ndarray],
    course: dict[str, np.ndarray],
    rng: np.random.Generator,
    setting: Setting,
) -> dict[str, np.ndarray]:
    """Where each outcome measure would be recorded if the episode reached that appointment.

    Drawn before the ending is decided, so that the oracle can condition on it.

    Args:
        base: the block's clients.
        course: the block's latent courses (for missed appointments and missing forms).
        rng: the block's random stream.
        setting: the cohort's clinics (which measures each records, and how completely).

    Returns:
        Per outcome measure, a session-major (max_sessions, n) boolean array.
    """
    recorded = ~course["missed"] & ~course["forms_missing"]
    missing_rate = setting.measure_missing[base["clinic"]][None, :]
    available = {}
    for column in OUTCOME_MEASURES:
        uses = setting.uses[base["clinic"], MEASURE_COLUMNS.index(column)][None, :]
        available[column] = uses & recorded & (rng.random(recorded.shape) >= missing_rate)
    return available


def observe(
    *,
    base: dict[str, np.ndarray],
    course: dict[str, np.ndarray],
    ending: dict[str, np.ndarray],
    rng: np.random.Generator,
    params: SimulationParams,
    setting: Setting,
) -> Block:
    """The block as a clinic records it: appointments, dates, scores, termination.

    Args:
        base: the block's clients.
        course: the block's latent courses.
        ending: how and when each episode ends, with the oracle probabilities.
        rng: the block's random stream.
        params: the simulation parameters.
        setting: the cohort's clinics and therapists.

    Returns:
        The block's client and session arrays, ready to be assembled into tables.
    """
    n, width = len(base["severity"]), params.max_sessions
    slot = np.arange(width)
    end_at, end_kind = ending["end_at"], ending["end_kind"]
    left = end_kind == 1
    # A client who leaves often stops attending before the service closes the episode:
    # the next one or two booked appointments are no-shows (target 15).
    trailing = np.where(left, rng.choice(3, size=n, p=params.trailing_no_show_probs), 0)
    last_booked = np.minimum(end_at + trailing, width - 1)
    booked = slot[:, None] <= last_booked[None, :]
    attended = ~course["missed"] & (slot[:, None] <= end_at[None, :])

    gaps = params.session_gap_days + np.rint(
        params.session_gap_sd_days * rng.standard_normal((width, n))
    )
    gaps += params.session_gap_days * (rng.random((width, n)) < params.long_gap_prob)
    gaps = np.maximum(gaps, 1).astype(np.int32)
    gaps[0] = 0
    day = base["intake_day"][None, :] + np.cumsum(gaps, axis=0, dtype=np.int32)

    closure = np.where(
        left,
        rng.integers(params.dropout_closure_days[0], params.dropout_closure_days[1] + 1, n),
        np.where(end_kind == 2, rng.integers(0, 8, n), 0),
    )
    end_day = day[last_booked, np.arange(n)] + closure
    ongoing = end_day > setting.extract_day
    kept = booked & (day <= setting.extract_day)

    termination = _termination(
        end_kind=end_kind,
        attended_to_end=course["attended_count"][end_at, np.arange(n)],
        ongoing=ongoing,
        params=params,
    )

    rows_client, rows_slot = np.nonzero(kept.T)  # client-major row order
    session = {
        "client": rows_client,
        "session_number": rows_slot + 1,
        "session_day": day[rows_slot, rows_client],
        "attended": attended[rows_slot, rows_client],
        **_observed_scores(
            base=base,
            course=course,
            ending=ending,
            rows=(rows_client, rows_slot),
            attended=attended[rows_slot, rows_client],
            rng=rng,
            params=params,
            setting=setting,
        ),
    }
    rupture_seen = course["rupture_at"] <= last_booked
    gain_seen = course["gain_at"] <= last_booked
    client = {
        "clinic": base["clinic"],
        "therapist": base["therapist"],
        "intake_day": base["intake_day"],
        "age": base["age"],
        "gender": base["gender"],
        "concern": base["concern"],
        "prior_treatment": base["prior_treatment"],
        "prior_known": base["prior_known"],
        "termination": termination,
        "end_day": end_day,
        "oracle_dropout": ending["oracle_dropout"],
        "oracle_poor": ending["oracle_poor"],
        "engagement": base["engagement"],
        "severity": base["severity"],
        "responsiveness": base["responsiveness"],
        "alliance_trait": base["alliance_trait"],
        "recovery_rate": course["rate"],
        "planned_sessions": base["planned"],
        "rupture_session": np.where(rupture_seen, course["rupture_at"] + 1, 0),
        "rupture_repaired": course["repaired"],
        "sudden_gain_session": np.where(gain_seen, course["gain_at"] + 1, 0),
        "left_unilaterally": left,
    }
    return Block(client=client, session=session)


def _termination(
    *,
    end_kind: np.ndarray,
    attended_to_end: np.ndarray,
    ongoing: np.ndarray,
    params: SimulationParams,
) -> np.ndarray:
    """Each episode's termination (index into ``TERMINATIONS``) under the chosen dropout
    definition; an episode still open at the extract date is ongoing whatever its fate."""
    left, referred = end_kind == 1, end_kind == 2
    short = ~referred & (attended_to_end < params.dropout_min_attended)
    dropout = {"unilateral": left, "min_attended": short, "either": left | short}[
        params.dropout_definition
    ]
    return np.select([ongoing, referred, dropout], [3, 2, 1], default=0).astype(np.int8)


def _observed_scores(
    *,
    base: dict[str, np.ndarray],
    course: dict[str, np.ndarray],
    ending: dict[str, np.ndarray],
    rows: tuple[np.ndarray, np.ndarray],
    attended: np.ndarray,
    rng: np.random.Generator,
    params: SimulationParams,
    setting: Setting,
) -> dict[str, np.ndarray]:
    """Every measure on every kept appointment row; NaN where not recorded.

    Scores are computed only on the rows where the measure is recorded (a clinic uses two
    to four of the seven measures), which keeps large cohorts fast.
    """
    row_client, row_slot = rows
    clinic = base["clinic"][row_client]
    scores: dict[str, np.ndarray] = {}
    for column in OUTCOME_MEASURES:
        instrument = INSTRUMENTS[column]
        here = np.flatnonzero(ending["available"][column][row_slot, row_client] & attended)
        client, slot = row_client[here], row_slot[here]
        healthy = course["recovered"][column][client]
        true_score = (
            healthy
            + (course["intake"][column][client] - healthy) * course["remaining"][slot, client]
        )
        noise = score_noise_sd(instrument=instrument, params=params) * rng.standard_normal(
            len(here)
        )
        scores[column] = _on_scale(
            true_score + noise, instrument=instrument, rows=here, size=len(row_client)
        )

    recorded = attended & ~course["forms_missing"][row_slot, row_client]
    missing_rate = setting.measure_missing[clinic]
    ratings = {
        "wai_client": (params.client_rating_noise_sd, params.wai_client_deficit),
        "srs": (params.srs_rating_noise_sd, params.srs_deficit),
        "wai_therapist": (params.therapist_rating_noise_sd, params.wai_therapist_deficit),
    }
    for column, (noise_sd, (median_deficit, log_sd)) in ratings.items():
        instrument = INSTRUMENTS[column]
        candidate = np.flatnonzero(setting.uses[clinic, MEASURE_COLUMNS.index(column)] & recorded)
        here = candidate[rng.random(len(candidate)) >= missing_rate[candidate]]
        client, slot = row_client[here], row_slot[here]
        alliance = course["alliance"][slot, client]
        if column == "wai_therapist":
            view = (
                params.therapist_loading * alliance
                + params.therapist_rater_sd * base["therapist_rater"][client]
                + params.therapist_engagement * base["engagement"][client]
            )
        else:
            view = alliance + params.client_rater_sd * base["client_rater"][client]
        rating = view + noise_sd * rng.standard_normal(len(here))
        # Alliance scales have a ceiling: the distance below the top is log-normal, so most
        # scores bunch near the maximum and a weak alliance spreads into a long lower tail.
        value = instrument.high - median_deficit * np.exp(-log_sd * rating)
        scores[column] = _on_scale(value, instrument=instrument, rows=here, size=len(row_client))
    scores[SELF_HARM_ITEM] = self_harm_answers(scores["phq9"], rng=rng, params=params)
    return scores


def self_harm_answers(
    phq9: np.ndarray, *, rng: np.random.Generator, params: SimulationParams
) -> np.ndarray:
    """PHQ-9 item 9 beside each recorded PHQ-9 total; NaN where there is no total.

    Endorsement (an answer above 0) grows with the total on a logistic curve, and never
    exceeds the total (assumptions: item 9 is endorsed by a minority of outpatients, more
    often at higher severity; Kroenke et al. 2001).
    """
    answers = np.full(len(phq9), np.nan)
    here = np.flatnonzero(~np.isnan(phq9))
    total = phq9[here]
    endorsed = rng.random(len(here)) < 1.0 / (
        1.0 + np.exp(-(total - params.self_harm_midpoint) / params.self_harm_spread)
    )
    level = 1 + np.searchsorted(np.cumsum(params.self_harm_levels), rng.random(len(here)))
    answers[here] = np.minimum(np.where(endorsed, np.minimum(level, 3), 0), total)
    return answers


def _on_scale(
    value: np.ndarray, *, instrument: Instrument, rows: np.ndarray, size: int
) -> np.ndarray:
    """Scores rounded as the instrument is scored and clipped to its range, placed at
    ``rows`` of a column of ``size`` rows that is NaN elsewhere."""
    decimals = 0 if instrument.integer else (2 if instrument.high <= 5 else 1)
    column = np.full(size, np.nan)
    column[rows] = np.clip(np.round(value, decimals), instrument.low, instrument.high)
    return column
