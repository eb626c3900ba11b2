"""Latent courses: symptoms and alliance session by session, with ruptures and sudden gains.

``remaining`` (R) is the share of intake distress still present: 1 at intake, 0 at the
client's full-recovery level. ``alliance`` is the true alliance in SD units. Each feeds
the other with a one-session lag (Flückiger et al. 2020). Each outcome instrument sees R
through its own scale: linear between the client's true intake score and full-recovery
score.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from features.instruments import INSTRUMENTS
from features.vocabulary import PRIMARY_CONCERNS
from training.synth.observe import OUTCOME_MEASURES, score_noise_sd
from training.synth.params import SimulationParams
from training.synth.setting import Setting

__all__ = ["latent_courses"]

_ANXIETY_CONCERNS = tuple(PRIMARY_CONCERNS.index(c) for c in ("anxiety", "ocd", "panic", "phobia"))


def latent_courses(
    *,
    base: dict[str, np.ndarray],
    rng: np.random.Generator,
    params: SimulationParams,
    setting: Setting,
) -> dict[str, np.ndarray]:
    """Latent symptom and alliance courses, ruptures, sudden gains and planned attendance.

    Dense arrays are session-major, (max_sessions, n), so that each session's step works
    on contiguous memory. ``remaining`` is the share of intake distress still present;
    ``alliance`` the true alliance in SD units. Each depends on the other one session back
    (Flückiger et al. 2020). ``missed`` marks appointments the client would miss anyway.

    Args:
        base: the block's clients (:func:`training.synth.clients.draw_clients`).
        rng: the block's random stream.
        params: the simulation parameters.
        setting: the cohort's clinics and therapists.

    Returns:
        Session-major arrays ``remaining``, ``alliance``, ``missed``, ``attended_count``
        and ``forms_missing``; per-client ``planned_end``, ``rupture_at``, ``repair_at``,
        ``repaired``, ``gain_at`` (appointment indices) and ``rate``; and per outcome
        measure the true ``intake`` and full-recovery (``recovered``) scores.
    """
    n, width = len(base["severity"]), params.max_sessions
    clinic, therapist = base["clinic"], base["therapist"]
    rupture_at = rng.geometric(params.rupture_prob, n)  # appointment index, >= 1
    repaired = rng.random(n) < params.rupture_repair_prob
    repair_at = rupture_at + rng.integers(1, 3, n)
    low, high = params.sudden_gain_sessions
    gain_at = np.where(
        rng.random(n) < params.sudden_gain_prob, rng.integers(low - 1, high, n), width
    )
    rate = (
        params.recovery_rate_mean
        + params.recovery_rate_sd * base["responsiveness"]
        + params.recovery_engagement * base["engagement"]
        + params.client_view_to_symptoms * base["client_rater"]
        + setting.therapist_recovery[therapist]
        + setting.clinic_recovery[clinic]
    )
    alliance_level = (
        base["alliance_trait"]
        + params.alliance_engagement * base["engagement"]
        + setting.therapist_alliance[therapist]
        + setting.clinic_alliance[clinic]
    )
    miss_logit = (
        np.log(params.missed_rate / (1 - params.missed_rate))
        - params.missed_engagement * base["engagement"]
        + params.missed_age_per_decade * base["age_decades"]
    )
    remaining = np.ones((width, n), dtype=np.float32)
    alliance = np.empty((width, n), dtype=np.float32)
    missed = np.zeros((width, n), dtype=bool)
    ar = params.alliance_session_ar
    fluctuation = params.alliance_session_sd * rng.standard_normal(n)
    drift = np.zeros(n)
    for j in range(width):
        if j > 0:
            previous = remaining[j - 1].astype(np.float64)
            unrepaired = (j - 1 >= repair_at) & ~repaired
            drift = (
                params.recovery_drift_ar * drift
                + params.recovery_drift_sd * rng.standard_normal(n)
            )
            speed = (
                rate
                + drift
                + params.alliance_to_symptoms * alliance[j - 1]
                - params.rupture_unrepaired_slowing * unrepaired
            )
            # Worsening is front-loaded: a client who gets worse does so from the start.
            early = 1 + params.worsening_front_loading * np.exp(
                -(j - 1) / params.worsening_front_sessions
            )
            speed = np.where(speed < 0, speed * early, speed)
            current = previous * (1 - speed) + params.symptom_state_sd * rng.standard_normal(n)
            # A sudden gain removes a large share of the distress left in one step.
            current -= np.where(
                gain_at == j, params.sudden_gain_share * np.maximum(previous, 0), 0
            )
            remaining[j] = np.clip(current, -0.5, 3.0)
            fluctuation = ar * fluctuation + np.sqrt(
                1 - ar**2
            ) * params.alliance_session_sd * rng.standard_normal(n)
            improvement = 1.0 - previous
        else:
            improvement = 0.0
        alliance[j] = (
            alliance_level
            + params.alliance_growth * min(j, 6) / 6
            + params.alliance_from_improvement * improvement
            + fluctuation
            + _rupture_shift(
                session=j,
                rupture_at=rupture_at,
                repair_at=repair_at,
                repaired=repaired,
                params=params,
            )
        )
        if j > 0:
            # Session 1 is the intake and always attended; later ones may be missed, more
            # often by disengaged clients and after a weak session.
            p_miss = expit(miss_logit - params.missed_low_alliance * alliance[j - 1])
            missed[j] = rng.random(n) < p_miss
    intake, recovered = _intake_scores(base=base, rng=rng, params=params)
    # The planned ending is the appointment at which the planned number is attended.
    attended_count = np.cumsum(~missed, axis=0)
    reached = attended_count >= base["planned"][None, :]
    planned_end = np.where(reached.any(axis=0), reached.argmax(axis=0), width - 1)
    missed[planned_end, np.arange(n)] = False
    attended_count = np.cumsum(~missed, axis=0)
    return {
        "remaining": remaining,
        "alliance": alliance,
        "missed": missed,
        "attended_count": attended_count,
        "planned_end": planned_end,
        "rupture_at": rupture_at,
        "repair_at": repair_at,
        "repaired": repaired,
        "gain_at": gain_at,
        "rate": rate,
        "intake": intake,
        "recovered": recovered,
        "forms_missing": rng.random((width, n)) < params.form_missing_rate,
    }


def _intake_scores(
    *, base: dict[str, np.ndarray], rng: np.random.Generator, params: SimulationParams
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """True (error-free) intake score of every client on each outcome measure, and the
    true score the client would reach at full recovery (``remaining`` = 0)."""
    n = len(base["severity"])
    depressed = base["concern"] == PRIMARY_CONCERNS.index("depression")
    anxious = np.isin(base["concern"], _ANXIETY_CONCERNS)
    shift = params.concern_profile_shift
    profile = {
        "phq9": shift * (depressed - 0.5 * anxious),
        "gad7": shift * (anxious - 0.5 * depressed),
        "oq45": np.zeros(n),
        "ors": np.zeros(n),
    }
    share = params.measure_specific_share
    intake, recovered = {}, {}
    for column in OUTCOME_MEASURES:
        instrument = INSTRUMENTS[column]
        mean, sd = getattr(params, f"{column}_intake")
        # The observed intake SD is the population SD; the error is added at observation.
        true_sd = np.sqrt(
            max(sd**2 - score_noise_sd(instrument=instrument, params=params) ** 2, 0.0)
        )
        z = np.sqrt(1 - share) * base["severity"] + np.sqrt(share) * rng.standard_normal(n)
        direction = -1.0 if instrument.higher_is_better else 1.0
        intake[column] = mean + direction * true_sd * (z + profile[column])
        # How far a full recovery goes: partly the client's own distance from the healthy
        # level, partly the typical distance, so that intake severity alone does not decide
        # whether a reliable change is possible.
        common = params.recovery_distance_common_share
        distance = (1 - common) * (intake[column] - instrument.healthy_level) + common * (
            mean - instrument.healthy_level
        )
        recovered[column] = intake[column] - distance
    return intake, recovered


def _rupture_shift(
    *,
    session: int,
    rupture_at: np.ndarray,
    repair_at: np.ndarray,
    repaired: np.ndarray,
    params: SimulationParams,
) -> np.ndarray:
    """Change in latent alliance at appointment index ``session`` due to a rupture.

    The alliance drops at the rupture; one or two sessions later it is either repaired
    (and ends a little above where it was: Eubanks et al. 2018) or stays partly down.
    """
    after_repair = np.where(
        repaired,
        params.rupture_repair_bonus,
        -params.rupture_drop * params.rupture_unrepaired_residual,
    )
    acute = (session >= rupture_at) & (session < repair_at)
    return np.where(acute, -params.rupture_drop, np.where(session >= repair_at, after_repair, 0.0))
