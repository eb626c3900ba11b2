"""The setting shared by every client of a cohort: clinics and their therapists.

Clinics and therapists carry random effects on dropout, alliance and recovery speed
(target 14); they are drawn once per cohort, from their own random stream, so that the
client blocks of a large cohort see the same clinics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.instruments import MEASURE_COLUMNS
from training.synth.params import SimulationParams

__all__ = ["Setting", "draw_setting"]

_EPOCH = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True)
class Setting:
    """Clinics and therapists shared by all blocks, with their random effects.

    Attributes:
        clinic_ids: (n_clinics,) clinic identifiers as written to the extract.
        clinic_weights: (n_clinics,) each clinic's share of intakes.
        uses: (n_clinics, n_measures) whether the clinic records each session measure.
        measure_missing: (n_clinics,) chance that one measure is not returned.
        clinic_dropout: (n_clinics,) clinic effect on the leaving hazard (logit).
        clinic_alliance: (n_clinics,) clinic effect on the latent alliance (SD).
        clinic_recovery: (n_clinics,) clinic effect on the recovery speed.
        first_therapist: (n_clinics,) index of the clinic's first therapist.
        therapist_count: (n_clinics,) number of therapists in the clinic.
        therapist_ids: (n_therapists,) therapist identifiers.
        therapist_dropout: (n_therapists,) therapist effect on the leaving hazard (logit).
        therapist_alliance: (n_therapists,) therapist effect on the latent alliance (SD).
        therapist_recovery: (n_therapists,) therapist effect on the recovery speed.
        extract_day: the extract date, in days since 1970-01-01.
        first_day: the first possible intake date, in days since 1970-01-01.
    """

    clinic_ids: np.ndarray
    clinic_weights: np.ndarray
    uses: np.ndarray
    measure_missing: np.ndarray
    clinic_dropout: np.ndarray
    clinic_alliance: np.ndarray
    clinic_recovery: np.ndarray
    first_therapist: np.ndarray
    therapist_count: np.ndarray
    therapist_ids: np.ndarray
    therapist_dropout: np.ndarray
    therapist_alliance: np.ndarray
    therapist_recovery: np.ndarray
    extract_day: int
    first_day: int


def draw_setting(*, params: SimulationParams, n_clients: int, rng: np.random.Generator) -> Setting:
    """Draw the clinics (size, kind) and their therapists, with their random effects.

    Args:
        params: the simulation parameters.
        n_clients: the cohort size, which decides the number of therapists.
        rng: the setting's own random stream.

    Returns:
        The setting every block of the cohort shares.
    """
    n_clinics = params.n_clinics
    weights = rng.gamma(params.clinic_size_shape, size=n_clinics)
    weights /= weights.sum()
    profiles = [params.clinic_profiles[c % len(params.clinic_profiles)] for c in range(n_clinics)]
    uses = np.array([[m in p.measures for m in MEASURE_COLUMNS] for p in profiles])
    n_therapists = max(n_clinics, -(-n_clients // params.clients_per_therapist))
    # Every clinic gets at least one therapist; the rest follow the clinic's share.
    count = 1 + np.floor(weights * (n_therapists - n_clinics)).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    total = int(count.sum())
    first_day = int((np.datetime64(params.start_date, "D") - _EPOCH).astype(np.int64))
    return Setting(
        clinic_ids=np.array([f"clinic{c + 1:02d}" for c in range(n_clinics)]),
        clinic_weights=weights,
        uses=uses,
        measure_missing=np.array([p.measure_missing_rate for p in profiles]),
        clinic_dropout=_centred_effects(
            rng=rng, sd=params.dropout_clinic_sd, size=n_clinics, weights=weights
        ),
        clinic_alliance=_centred_effects(
            rng=rng, sd=params.alliance_clinic_sd, size=n_clinics, weights=weights
        ),
        clinic_recovery=_centred_effects(
            rng=rng, sd=params.recovery_clinic_sd, size=n_clinics, weights=weights
        ),
        first_therapist=first,
        therapist_count=count,
        therapist_ids=np.char.add("t", np.char.zfill(np.arange(1, total + 1).astype(str), 5)),
        therapist_dropout=_centred_effects(rng=rng, sd=params.dropout_therapist_sd, size=total),
        therapist_alliance=_centred_effects(rng=rng, sd=params.alliance_therapist_sd, size=total),
        therapist_recovery=_centred_effects(rng=rng, sd=params.recovery_therapist_sd, size=total),
        extract_day=first_day + params.intake_span_days + params.extract_lag_days,
        first_day=first_day,
    )


def _centred_effects(
    *, rng: np.random.Generator, sd: float, size: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """Normal random effects centred on their (weighted) mean.

    Random effects are deviations from the service as a whole: centred, so that a seed's
    few clinics do not shift the cohort's base rates.
    """
    drawn = rng.normal(0.0, sd, size)
    return drawn - np.average(drawn, weights=weights)
