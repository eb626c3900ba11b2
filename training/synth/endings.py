"""Endings: after each appointment the client may leave, be referred on, or complete.

After every appointment before the planned ending the client may leave unilaterally, with
a hazard that falls over sessions and rises with low alliance, unrepaired ruptures,
missed appointments and low engagement (targets 1-3, 10, 12, 15); referral competes with
leaving for the same draw. At the planned ending the episode completes.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from training.synth.observe import outcome_availability
from training.synth.oracle import EndingOracle
from training.synth.params import SimulationParams
from training.synth.setting import Setting

__all__ = ["endings"]

#: ``end_kind`` codes of an episode's realised ending.
_COMPLETED, _LEFT, _REFERRED = 0, 1, 2


def endings(
    *,
    base: dict[str, np.ndarray],
    course: dict[str, np.ndarray],
    rng: np.random.Generator,
    params: SimulationParams,
    setting: Setting,
) -> dict[str, np.ndarray]:
    """How and when each episode ends, and the oracle probabilities of its labels.

    Args:
        base: the block's clients.
        course: the block's latent courses.
        rng: the block's random stream.
        params: the simulation parameters.
        setting: the cohort's clinics and therapists.

    Returns:
        Per client ``end_at`` (appointment index of the ending), ``end_kind`` (0 completed,
        1 left, 2 referred), ``oracle_dropout`` and ``oracle_poor``; and ``available``,
        where each outcome measure would be recorded.
    """
    n, width = len(base["severity"]), params.max_sessions
    available = outcome_availability(base=base, course=course, rng=rng, setting=setting)
    remaining, alliance = course["remaining"], course["alliance"]
    planned_end = course["planned_end"]
    rupture_at, repair_at, repaired = course["rupture_at"], course["repair_at"], course["repaired"]
    person_logit = _person_logit(base=base, params=params, setting=setting)
    refer_logit = np.log(params.referral_prob / (1 - params.referral_prob)) + (
        params.referral_severity * base["severity"]
    )
    refer_hazard = expit(refer_logit)
    oracle = EndingOracle(course=course, available=available, params=params)

    alive = np.ones(n, dtype=bool)
    end_at = np.full(n, width - 1)
    end_kind = np.full(n, _COMPLETED, dtype=np.int8)
    for j in range(width):
        unrepaired = (j >= repair_at) & ~repaired
        acute = (j >= rupture_at) & (j < repair_at)
        hazard = expit(
            person_logit
            + params.dropout_hazard_decay * np.log1p(j)
            - params.dropout_alliance * alliance[j]
            + params.dropout_rupture_acute * acute
            + params.dropout_rupture_unrepaired * unrepaired
            + params.dropout_missed_session * course["missed"][j]
            + params.dropout_distress * (remaining[j] - 1.0)
        )
        before_end = j < planned_end
        at_end = j == planned_end
        # Referral competes with leaving for the same draw; it cannot push the two past 1.
        refer_now = np.minimum(refer_hazard, 1.0 - hazard)
        draw = rng.random(n)
        leaves = alive & before_end & (draw < hazard)
        referred = alive & before_end & ~leaves & (draw < hazard + refer_now)
        completes = alive & at_end
        ends = leaves | referred | completes
        end_at[ends] = j
        end_kind[leaves] = _LEFT
        end_kind[referred] = _REFERRED
        alive &= ~ends
        oracle.step(
            session=j, hazard=hazard, refer_now=refer_now, before_end=before_end, at_end=at_end
        )
    oracle_dropout, oracle_poor = oracle.probabilities()
    return {
        "end_at": end_at,
        "end_kind": end_kind,
        "available": available,
        "oracle_dropout": oracle_dropout,
        "oracle_poor": oracle_poor,
    }


def _person_logit(
    *, base: dict[str, np.ndarray], params: SimulationParams, setting: Setting
) -> np.ndarray:
    """The part of each client's leaving hazard (logit) that does not change over sessions."""
    concern_effect = np.asarray(params.dropout_concern)[base["concern"]]
    return (
        params.dropout_logit_first
        + params.dropout_age_per_decade * base["age_decades"]
        + params.dropout_prior_treatment * base["prior_treatment"]
        + concern_effect
        + params.dropout_intake_severity * base["severity"]
        - params.dropout_engagement * base["engagement"]
        + setting.clinic_dropout[base["clinic"]]
        + setting.therapist_dropout[base["therapist"]]
    )
