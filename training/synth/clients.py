"""New clients: what the clinic records at intake, and the latent traits behind it."""

from __future__ import annotations

import numpy as np

from features.vocabulary import GENDERS, PRIMARY_CONCERNS
from training.synth.params import SimulationParams
from training.synth.setting import Setting

__all__ = ["draw_clients"]


def draw_clients(
    *, n: int, rng: np.random.Generator, params: SimulationParams, setting: Setting
) -> dict[str, np.ndarray]:
    """Observed baseline fields and latent traits of ``n`` new clients.

    Args:
        n: number of clients.
        rng: the block's random stream.
        params: the simulation parameters.
        setting: the cohort's clinics and therapists.

    Returns:
        Per-client arrays (n,): clinic and therapist indices, age, gender, concern, prior
        treatment, intake day, planned sessions, and the standard-normal latent traits
        (engagement, severity, responsiveness, alliance propensity and the client's and
        therapist's rater tendencies).
    """
    clinic = rng.choice(len(setting.clinic_weights), size=n, p=setting.clinic_weights)
    therapist = setting.first_therapist[clinic] + np.floor(
        rng.random(n) * setting.therapist_count[clinic]
    ).astype(np.int64)
    age = np.minimum(
        params.age_min + np.floor(rng.gamma(params.age_gamma_shape, params.age_gamma_scale, n)),
        100,
    ).astype(np.int64)
    planned = np.clip(
        np.rint(
            params.planned_sessions_median
            * np.exp(params.planned_sessions_log_sd * rng.standard_normal(n))
        ),
        params.planned_sessions_min,
        params.planned_sessions_max,
    ).astype(np.int64)
    traits = rng.standard_normal((6, n))
    return {
        "clinic": clinic,
        "therapist": therapist,
        "age": age,
        "age_decades": (age - 40.0) / 10.0,
        "gender": rng.choice(len(GENDERS), size=n, p=params.gender_probs),
        "concern": rng.choice(len(PRIMARY_CONCERNS), size=n, p=params.concern_probs),
        "prior_treatment": rng.random(n) < params.prior_treatment_prob,
        "prior_known": rng.random(n) >= params.prior_treatment_missing,
        "intake_day": setting.first_day + rng.integers(0, params.intake_span_days, n),
        "planned": planned,
        "engagement": traits[0],
        "severity": traits[1],
        "responsiveness": traits[2],
        "alliance_trait": traits[3],
        "client_rater": traits[4],
        "therapist_rater": traits[5],
    }
