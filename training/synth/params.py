"""Every parameter of the simulator, with its source, and the clinic kinds it knows.

"target N" cites the numbered generator targets at the end of shared/research/domain.md
("Implications for a synthetic-data generator"); "s.X" a section of it.
docs/simulator.md has the same table in prose.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np

from features.instruments import MEASURE_COLUMNS

__all__ = [
    "DEFAULT_CLINIC_PROFILES",
    "ClinicProfile",
    "DropoutDefinition",
    "SimulationParams",
    "check_params",
]

DropoutDefinition = Literal["unilateral", "min_attended", "either"]


@dataclass(frozen=True)
class ClinicProfile:
    """A kind of clinic: which instruments it administers and how completely.

    Attributes:
        name: short description (not written to the extract).
        measures: the session measures (contract column names) this clinic records.
        measure_missing_rate: chance that one measure is not returned at an attended
            session, on top of the whole-session form missingness.
    """

    name: str
    measures: tuple[str, ...]
    measure_missing_rate: float


#: Instrument subsets of the clinic kinds in domain.md section 4: NHS Talking Therapies
#: (PHQ-9 + GAD-7 session by session, here with the client WAI-SR), PCOMS (ORS + SRS),
#: OQ-Analyst (OQ-45.2, here with client and therapist WAI-SR) and a mixed service whose
#: outcome measures are recorded less completely (Blenkiron & Goldsmith 2019: follow-up
#: return is low outside session-by-session systems).
DEFAULT_CLINIC_PROFILES: tuple[ClinicProfile, ...] = (
    ClinicProfile("talking_therapies", ("phq9", "gad7", "wai_client"), 0.03),
    ClinicProfile("pcoms", ("ors", "srs"), 0.04),
    ClinicProfile("oq_analyst", ("oq45", "wai_client", "wai_therapist"), 0.05),
    ClinicProfile("mixed", ("phq9", "ors", "srs", "wai_therapist"), 0.15),
)


@dataclass(frozen=True)
class SimulationParams:
    """Every parameter of the simulator, with the source it was set from.

    Units: "logit" = additive effect on the log-odds of the per-appointment leaving hazard;
    "SD" = one standard deviation of a standard-normal latent trait. The latent symptom
    course ``R`` is the share of intake distress still present: 1 at intake, 0 at the
    client's full-recovery level. "target N" cites the numbered generator targets at the end
    of shared/research/domain.md; "s.X" a section of it. "assumption" marks a value with no
    source; "calibrated" a value tuned until the cited target is met (``achieved_targets``).
    docs/simulator.md has the same table in prose.
    """

    # --- setting -------------------------------------------------------------------------
    n_clinics: int = 8  # assumption: enough clinics for clinic-grouped splits
    clinic_profiles: tuple[ClinicProfile, ...] = DEFAULT_CLINIC_PROFILES  # s.4 systems
    clinic_size_shape: float = 8.0  # assumption: gamma shape of clinic sizes (CV ~35%)
    clients_per_therapist: int = 120  # assumption: one therapist's intakes in two years
    start_date: dt.date = dt.date(2023, 1, 2)  # assumption: first possible intake
    intake_span_days: int = 730  # brief: intakes spread over about two years
    extract_lag_days: int = 0  # extract date after the last possible intake (censoring)
    max_sessions: int = 20  # cap on booked appointments per episode (dense array width)

    # --- client mix (assumptions for an adult outpatient service; not in domain.md) -------
    age_min: int = 16  # data contract: older-adolescent and adult services
    age_gamma_shape: float = 2.2  # assumption: mean age about 36, right-skewed
    age_gamma_scale: float = 9.0  # assumption
    gender_probs: tuple[float, ...] = (0.64, 0.34, 0.015, 0.005)  # assumption: ~2/3 women
    concern_probs: tuple[float, ...] = (0.40, 0.30, 0.05, 0.07, 0.05, 0.13)  # assumption
    prior_treatment_prob: float = 0.35  # assumption
    prior_treatment_missing: float = 0.10  # assumption: not always recorded (nullable)

    # --- episode length and attendance (target 15) ----------------------------------------
    planned_sessions_median: float = 8.0  # s.6.1: NHS TT mean 6.9-7 sessions per course
    planned_sessions_log_sd: float = 0.35  # brief: completers mostly 6-12 sessions
    planned_sessions_min: int = 4  # assumption
    planned_sessions_max: int = 16  # assumption
    session_gap_days: int = 7  # brief: planned weekly sessions
    session_gap_sd_days: float = 1.2  # brief: jitter around the weekly slot
    long_gap_prob: float = 0.08  # assumption: holidays and rebooking (a two-week gap)
    missed_rate: float = 0.085  # target 15: 12% of appointments missed (Davis 2020), calib.
    missed_engagement: float = 0.6  # logit per SD; target 15: irregular attendance
    missed_age_per_decade: float = -0.15  # logit; Davis 2020: older age OR 1.02/yr attends
    missed_low_alliance: float = 0.3  # logit per SD of low alliance last session, assumption
    form_missing_rate: float = 0.03  # target 15: questionnaires expire (Greenspace, 4 days)

    # --- leaving, referral and the dropout label (targets 1, 2, 3, 10, 12, 15) -------------
    dropout_definition: DropoutDefinition = "unilateral"  # target 1: Wierzbicki 1993
    dropout_min_attended: int = 2  # s.2.1: NHS TT "finished a course" = 2 attended sessions
    dropout_logit_first: float = -4.1  # target 1: ~25% (Jankowsky 2024), calibrated
    dropout_hazard_decay: float = -0.25  # target 2: front-loaded (Barrett 2008), calibrated
    dropout_age_per_decade: float = -0.3  # target 12: younger clients drop out more
    dropout_prior_treatment: float = 0.3  # s.2.4: Mütze 2021 previous inpatient treatment
    dropout_concern: tuple[float, ...] = (0.15, 0.0, 0.0, 0.0, 0.0, 0.5)  # Carpallo 2023
    dropout_intake_severity: float = 0.25  # s.2.4: Romero; Landes 2016, per SD
    dropout_engagement: float = 0.55  # s.2.4: Jankowsky 2024 motivation, per SD, calibrated
    dropout_alliance: float = 0.45  # target 3: Sharf 2010 d = .55, per SD, calibrated
    dropout_rupture_acute: float = 0.0  # target 10: the drop itself acts via the alliance
    dropout_rupture_unrepaired: float = 0.4  # target 10: Safran 2011; size assumption
    dropout_missed_session: float = 0.4  # target 15: missed sessions foreshadow dropout
    dropout_distress: float = 0.3  # logit per unit of R above intake, assumption
    dropout_clinic_sd: float = 0.3  # target 14: clinic effects, size assumption
    dropout_therapist_sd: float = 0.2  # target 14: therapist effects, size assumption
    trailing_no_show_probs: tuple[float, float, float] = (0.4, 0.4, 0.2)  # target 15 (brief)
    dropout_closure_days: tuple[int, int] = (14, 42)  # assumption: closed after contact tries
    referral_prob: float = 0.004  # brief: a few percent referred (per appointment)
    referral_severity: float = 0.3  # logit per SD of intake severity, assumption

    # --- symptom course (targets 4-8, 11, 14, 16) -----------------------------------------
    phq9_intake: tuple[float, float] = (15.0, 5.5)  # target 8: IAPT ~15 (memory); SD assump.
    gad7_intake: tuple[float, float] = (13.0, 4.8)  # target 8: IAPT ~13 (memory); SD assump.
    oq45_intake: tuple[float, float] = (82.0, 24.0)  # assumption: well above the 64 cut-off
    ors_intake: tuple[float, float] = (17.5, 7.0)  # target 8: ORS intake 16-19 (OpenFIT)
    measure_specific_share: float = 0.3  # assumption: PHQ-9/GAD-7 intake r about .7
    concern_profile_shift: float = 0.35  # SD; depression raises PHQ-9, anxiety GAD-7
    recovery_distance_common_share: float = 0.4  # s.5: baseline AUC < .63 (Franken 2023)
    recovery_rate_mean: float = 0.16  # target 7: 65-69% improve, ~48% recover, calibrated
    recovery_rate_sd: float = 0.085  # target 7: 5-10% deteriorate (Lambert), calibrated
    recovery_engagement: float = 0.012  # per SD: engaged clients improve more, assumption
    recovery_therapist_sd: float = 0.012  # target 14: therapist effect on outcome
    recovery_clinic_sd: float = 0.008  # target 14: clinic effect on outcome
    recovery_drift_sd: float = 0.04  # assumption: a client's speed changes over time
    recovery_drift_ar: float = 0.7  # assumption: persistence of that change
    alliance_to_symptoms: float = 0.05  # target 4: alliance -> next symptoms (Flückiger 2020)
    client_view_to_symptoms: float = 0.015  # s.3.2: client ratings predict outcome best
    rupture_unrepaired_slowing: float = 0.05  # target 10: unrepaired -> worse (beta .45)
    symptom_state_sd: float = 0.1  # assumption: week-to-week fluctuation of true distress
    worsening_front_loading: float = 2.0  # target 16: deterioration shows early (Hannan 2005)
    worsening_front_sessions: float = 3.0  # target 16: decay (sessions) of that extra speed
    sudden_gain_prob: float = 0.25  # target 6: 15-40% (Tang & DeRubeis 1999; Stiles 2003)
    sudden_gain_share: float = 0.35  # target 6: one drop ~half of total improvement
    sudden_gain_sessions: tuple[int, int] = (3, 7)  # target 6: typically session 4-5
    ors_occasion_sd: float = 3.0  # target 11: ORS test-retest .61-.84 (Moggia 2018)
    self_harm_midpoint: float = 18.0  # PHQ-9 total with even odds of item 9 > 0, assumption
    self_harm_spread: float = 3.0  # logistic scale of that curve, assumption
    self_harm_levels: tuple[float, float, float] = (0.6, 0.25, 0.15)  # answers 1/2/3, assump.

    # --- alliance course (targets 3, 4, 9, 10, 14) -----------------------------------------
    alliance_engagement: float = 0.4  # s.2.4: motivation and alliance go together, assump.
    alliance_therapist_sd: float = 0.5  # target 14: between < within-therapist variance
    alliance_clinic_sd: float = 0.15  # target 14: clinic effects, size assumption
    alliance_growth: float = 0.3  # SD gained over the first six sessions, assumption
    alliance_from_improvement: float = 1.0  # target 4: symptoms -> next alliance (Flückiger)
    alliance_session_sd: float = 0.4  # assumption: session-to-session fluctuation
    alliance_session_ar: float = 0.4  # assumption: persistence of that fluctuation
    rupture_prob: float = 0.18  # target 10: ~half of cases (Stevens 2007), calibrated
    rupture_drop: float = 3.0  # target 10: observed drop of 1-2 SD (PMC3320522), calibrated
    rupture_repair_prob: float = 0.55  # s.3.3: repairs are common (Eubanks 2018), assump.
    rupture_repair_bonus: float = 0.7  # target 10: resolved ruptures do best (Eubanks 2018)
    rupture_unrepaired_residual: float = 0.5  # share of the drop kept if unrepaired, assump.

    # --- alliance ratings (targets 3, 9, 11) ------------------------------------------------
    client_rater_sd: float = 1.2  # target 9: low within-dyad agreement (PMC3330579)
    client_rating_noise_sd: float = 0.5  # assumption: WAI-SR alpha > .80 (Munder 2010)
    srs_rating_noise_sd: float = 0.65  # target 11: SRS test-retest .54-.70 (SRS review)
    therapist_loading: float = 0.5  # target 9: client-therapist r ~ .36 (Tryon 2007, memory)
    therapist_rater_sd: float = 1.35  # target 9: low within-dyad agreement
    therapist_engagement: float = 0.4  # target 3: therapist sees motivation (Jankowsky 2024)
    therapist_rating_noise_sd: float = 0.4  # assumption
    wai_client_deficit: tuple[float, float] = (0.9, 0.25)  # target 9: item mean ~4 (memory)
    wai_therapist_deficit: tuple[float, float] = (1.2, 0.25)  # target 9: g = .41 (Lev Ari)
    srs_deficit: tuple[float, float] = (2.0, 0.4)  # target 9: SRS mostly 36-40 (hiboop)


def check_params(*, params: SimulationParams, n_clients: int) -> None:
    """Reject a cohort size or parameter set the simulator cannot honour.

    Args:
        params: the simulation parameters.
        n_clients: the requested number of episodes.

    Raises:
        ValueError: ``n_clients`` is below 1 or a parameter is out of range.
    """
    if n_clients < 1:
        raise ValueError("n_clients must be at least 1")
    if params.n_clinics < 1 or not params.clinic_profiles:
        raise ValueError("need at least one clinic and one clinic profile")
    for profile in params.clinic_profiles:
        unknown = set(profile.measures) - set(MEASURE_COLUMNS)
        if unknown:
            raise ValueError(f"clinic profile {profile.name!r}: unknown measures {unknown}")
    if not params.planned_sessions_min <= params.planned_sessions_max < params.max_sessions:
        raise ValueError("need planned_sessions_min <= planned_sessions_max < max_sessions")
    for name in ("gender_probs", "concern_probs", "trailing_no_show_probs"):
        if not np.isclose(sum(getattr(params, name)), 1.0):
            raise ValueError(f"{name} must sum to 1")
    if params.dropout_definition not in ("unilateral", "min_attended", "either"):
        raise ValueError(f"unknown dropout_definition {params.dropout_definition!r}")
