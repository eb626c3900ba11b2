"""A simulator of clinic extracts: episodes of outpatient psychotherapy, session by session.

The generative model, every parameter and its source are described in ``docs/simulator.md``;
the sources are those collected in ``shared/research/domain.md`` (section "Implications for
a synthetic-data generator", cited below as "target N"). Instrument ranges, reliable change
and measurement error are read from :mod:`features.instruments`.

In brief: each client has latent traits (engagement, intake severity, responsiveness,
alliance propensity). A latent symptom course (the share of intake distress still present)
and a latent alliance course evolve together session by session, each feeding the other
with a one-session lag; ruptures and sudden gains are events on these courses. Appointments
are scheduled weekly; some are missed. After each appointment before the planned ending
the client may leave unilaterally, with a hazard that falls over sessions and rises with
low alliance, unrepaired ruptures, missed appointments and low engagement. Observed scores
are the latent courses seen through each clinic's instruments, with measurement error.

Everything is vectorised over clients: the only Python loops run over session numbers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pa_compute
import pyarrow.csv as pa_csv
from scipy.special import expit, ndtr

from features.instruments import INSTRUMENTS, MEASURE_COLUMNS, Instrument
from features.schemas import GENDERS, PRIMARY_CONCERNS, TERMINATIONS
from training.synth_targets import TargetCheck, achieved_targets

__all__ = [
    "ClinicProfile",
    "Cohort",
    "DEFAULT_CLINIC_PROFILES",
    "SimulationParams",
    "TargetCheck",
    "achieved_targets",
    "simulate_cohort",
    "write_cohort",
]

_ANXIETY_CONCERNS = tuple(PRIMARY_CONCERNS.index(c) for c in ("anxiety", "ocd", "panic", "phobia"))
_OUTCOME_MEASURES = ("phq9", "gad7", "oq45", "ors")
#: Clients are simulated in blocks of this many so that memory stays bounded for large
#: cohorts. It is a constant (not a parameter) because the random streams depend on it.
_BLOCK_SIZE = 250_000
_EPOCH = np.datetime64("1970-01-01", "D")

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
    recovery_rate_mean: float = 0.14  # target 7: 65-69% reliably improve, calibrated
    recovery_rate_sd: float = 0.075  # target 7: 5-10% deteriorate (Lambert), calibrated
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


@dataclass(frozen=True)
class Cohort:
    """A simulated extract and the simulator's hidden truth about it.

    Attributes:
        clients: the clients table, contract columns and dtypes.
        sessions: the sessions table, contract columns and dtypes.
        oracle: ``client_id``, ``dropout_probability``, ``poor_outcome_probability``: the
            simulator's true probability of each label given the client's latent state
            (see :func:`simulate_cohort`); not observable, an upper-bound baseline.
        latent: per client, the latent traits and events behind the extract (for checks
            and diagnostics only; never a model input).
    """

    clients: pd.DataFrame
    sessions: pd.DataFrame
    oracle: pd.DataFrame
    latent: pd.DataFrame = field(repr=False)


def simulate_cohort(
    *, n_clients: int, seed: int, params: SimulationParams | None = None
) -> Cohort:
    """Simulate a contract-valid extract of ``n_clients`` episodes.

    The same ``n_clients``, ``seed`` and ``params`` always give the same cohort.

    The oracle probabilities condition on everything the simulator draws before the
    episode's ending is decided: the latent traits, therapist and clinic effects, the
    latent symptom and alliance courses over all ``max_sessions`` appointments (with their
    ruptures and sudden gains), the planned length, which appointments the client would
    miss anyway and which measures would be missing. They integrate over the rest: the
    appointment-by-appointment leave or refer draws and each score's measurement error.
    ``dropout_probability`` is P(dropout | the episode ends as completed or dropout), i.e.
    the label's probability ignoring referral and censoring; ``poor_outcome_probability``
    is P(poor outcome | the episode ends with a poor-outcome label). Rounding and clipping
    of the final scores are approximated by a continuity correction.

    Args:
        n_clients: number of episodes (clients), at least 1.
        seed: seed of the random streams.
        params: simulation parameters; the defaults reproduce domain.md's targets.

    Returns:
        The cohort: clients, sessions, oracle and latent tables.

    Raises:
        ValueError: ``n_clients`` is below 1 or a parameter is out of range.
    """
    params = params or SimulationParams()
    _check_params(params=params, n_clients=n_clients)
    streams = np.random.SeedSequence(seed).spawn(1 + -(-n_clients // _BLOCK_SIZE))
    setting = _draw_setting(
        params=params, n_clients=n_clients, rng=np.random.default_rng(streams[0])
    )
    blocks = [
        _simulate_block(
            n=min(_BLOCK_SIZE, n_clients - start),
            rng=np.random.default_rng(stream),
            params=params,
            setting=setting,
        )
        for start, stream in zip(range(0, n_clients, _BLOCK_SIZE), streams[1:], strict=True)
    ]
    return _assemble(blocks=blocks, setting=setting, n_clients=n_clients)


def write_cohort(cohort: Cohort, out_dir: Path) -> dict[str, Path]:
    """Write the cohort as contract CSV files (and the oracle) into ``out_dir``.

    Args:
        cohort: a simulated cohort.
        out_dir: directory to write to; created if missing.

    Returns:
        The written paths by table name: ``clients``, ``sessions``, ``oracle``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    options = pa_csv.WriteOptions(quoting_style="none", quoting_header="none")
    paths = {}
    for name, frame in (
        ("clients", cohort.clients),
        ("sessions", cohort.sessions),
        ("oracle", cohort.oracle),
    ):
        table = pa.Table.from_pandas(frame, preserve_index=False)
        for position, column in enumerate(table.schema):
            if pa.types.is_timestamp(column.type):
                # A date column, written as an ISO date without a time of day.
                table = table.set_column(
                    position, column.name, table.column(position).cast(pa.date32())
                )
        paths[name] = out_dir / f"{name}.csv"
        pa_csv.write_csv(table, paths[name], write_options=options)
    return paths


# ---------------------------------------------------------------------------------------
# setting: clinics and therapists
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Setting:
    """Clinics and therapists shared by all blocks, with their random effects."""

    clinic_ids: np.ndarray
    clinic_weights: np.ndarray
    uses: np.ndarray  # (n_clinics, n_measures) bool: the clinic records this measure
    measure_missing: np.ndarray  # (n_clinics,)
    clinic_dropout: np.ndarray
    clinic_alliance: np.ndarray
    clinic_recovery: np.ndarray
    first_therapist: np.ndarray  # (n_clinics,) index of the clinic's first therapist
    therapist_count: np.ndarray  # (n_clinics,)
    therapist_ids: np.ndarray
    therapist_dropout: np.ndarray
    therapist_alliance: np.ndarray
    therapist_recovery: np.ndarray
    extract_day: int  # days since 1970-01-01
    first_day: int


def _check_params(*, params: SimulationParams, n_clients: int) -> None:
    """Reject a cohort size or parameter set the simulator cannot honour."""
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


def _draw_setting(
    *, params: SimulationParams, n_clients: int, rng: np.random.Generator
) -> _Setting:
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

    def effects(sd: float, size: int, weights: np.ndarray | None = None) -> np.ndarray:
        # Random effects are deviations from the service as a whole: centred, so that a
        # seed's few clinics do not shift the cohort's base rates.
        drawn = rng.normal(0.0, sd, size)
        return drawn - np.average(drawn, weights=weights)

    return _Setting(
        clinic_ids=np.array([f"clinic{c + 1:02d}" for c in range(n_clinics)]),
        clinic_weights=weights,
        uses=uses,
        measure_missing=np.array([p.measure_missing_rate for p in profiles]),
        clinic_dropout=effects(params.dropout_clinic_sd, n_clinics, weights),
        clinic_alliance=effects(params.alliance_clinic_sd, n_clinics, weights),
        clinic_recovery=effects(params.recovery_clinic_sd, n_clinics, weights),
        first_therapist=first,
        therapist_count=count,
        therapist_ids=np.char.add("t", np.char.zfill(np.arange(1, total + 1).astype(str), 5)),
        therapist_dropout=effects(params.dropout_therapist_sd, total),
        therapist_alliance=effects(params.alliance_therapist_sd, total),
        therapist_recovery=effects(params.recovery_therapist_sd, total),
        extract_day=first_day + params.intake_span_days + params.extract_lag_days,
        first_day=first_day,
    )


# ---------------------------------------------------------------------------------------
# one block of clients
# ---------------------------------------------------------------------------------------


@dataclass
class _Block:
    """Client-level arrays (n,) and flattened session arrays (rows,) of one block."""

    client: dict[str, np.ndarray]
    session: dict[str, np.ndarray]


def _simulate_block(
    *, n: int, rng: np.random.Generator, params: SimulationParams, setting: _Setting
) -> _Block:
    base = _draw_clients(n=n, rng=rng, params=params, setting=setting)
    course = _latent_courses(base=base, rng=rng, params=params, setting=setting)
    ending = _endings(base=base, course=course, rng=rng, params=params, setting=setting)
    return _observe(
        base=base, course=course, ending=ending, rng=rng, params=params, setting=setting
    )


def _draw_clients(
    *, n: int, rng: np.random.Generator, params: SimulationParams, setting: _Setting
) -> dict[str, np.ndarray]:
    """Observed baseline fields and latent traits of ``n`` new clients."""
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


def _score_noise_sd(instrument: Instrument, params: SimulationParams) -> float:
    """SD of one administration's error: the instrument's SEM plus occasion-specific noise."""
    sem = instrument.measurement_sem or 0.0
    occasion = params.ors_occasion_sd if instrument.column == "ors" else 0.0
    return float(np.hypot(sem, occasion))


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
    for column in _OUTCOME_MEASURES:
        instrument = INSTRUMENTS[column]
        mean, sd = getattr(params, f"{column}_intake")
        # The observed intake SD is the population SD; the error is added at observation.
        true_sd = np.sqrt(max(sd**2 - _score_noise_sd(instrument, params) ** 2, 0.0))
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


def _latent_courses(
    *,
    base: dict[str, np.ndarray],
    rng: np.random.Generator,
    params: SimulationParams,
    setting: _Setting,
) -> dict[str, np.ndarray]:
    """Latent symptom and alliance courses, ruptures, sudden gains and planned attendance.

    Dense arrays are session-major, (max_sessions, n), so that each session's step works
    on contiguous memory. ``remaining`` is the share of intake distress still present;
    ``alliance`` the true alliance in SD units. Each depends on the other one session back
    (Flückiger et al. 2020). ``missed`` marks appointments the client would miss anyway.
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


def _outcome_availability(
    *,
    base: dict[str, np.ndarray],
    course: dict[str, np.ndarray],
    rng: np.random.Generator,
    setting: _Setting,
) -> dict[str, np.ndarray]:
    """Where each outcome measure would be recorded if the episode reached that appointment."""
    recorded = ~course["missed"] & ~course["forms_missing"]
    missing_rate = setting.measure_missing[base["clinic"]][None, :]
    available = {}
    for column in _OUTCOME_MEASURES:
        uses = setting.uses[base["clinic"], MEASURE_COLUMNS.index(column)][None, :]
        available[column] = uses & recorded & (rng.random(recorded.shape) >= missing_rate)
    return available


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
    for column in _OUTCOME_MEASURES:
        instrument = INSTRUMENTS[column]
        spread = np.sqrt(2.0) * _score_noise_sd(instrument, params)
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


def _endings(
    *,
    base: dict[str, np.ndarray],
    course: dict[str, np.ndarray],
    rng: np.random.Generator,
    params: SimulationParams,
    setting: _Setting,
) -> dict[str, np.ndarray]:
    """How and when each episode ends, and the oracle probabilities of its labels.

    After every appointment before the planned ending the client may leave (dropout
    hazard) or be referred on; at the planned ending the episode completes.
    """
    n, width = len(base["severity"]), params.max_sessions
    available = _outcome_availability(base=base, course=course, rng=rng, setting=setting)
    intake, recovered = course["intake"], course["recovered"]
    remaining, alliance = course["remaining"], course["alliance"]
    attended_count, planned_end = course["attended_count"], course["planned_end"]
    rupture_at, repair_at, repaired = course["rupture_at"], course["repair_at"], course["repaired"]
    counts_as_dropout_if_leaves = params.dropout_definition in ("unilateral", "either")
    counts_by_attendance = params.dropout_definition in ("min_attended", "either")

    concern_effect = np.asarray(params.dropout_concern)[base["concern"]]
    person_logit = (
        params.dropout_logit_first
        + params.dropout_age_per_decade * base["age_decades"]
        + params.dropout_prior_treatment * base["prior_treatment"]
        + concern_effect
        + params.dropout_intake_severity * base["severity"]
        - params.dropout_engagement * base["engagement"]
        + setting.clinic_dropout[base["clinic"]]
        + setting.therapist_dropout[base["therapist"]]
    )
    refer_logit = np.log(params.referral_prob / (1 - params.referral_prob)) + (
        params.referral_severity * base["severity"]
    )
    refer_hazard = expit(refer_logit)

    alive = np.ones(n, dtype=bool)
    end_at = np.full(n, width - 1)
    end_kind = np.zeros(n, dtype=np.int8)  # 0 completed, 1 left, 2 referred
    survival = np.ones(n)
    p_dropout = np.zeros(n)
    p_labelled_end = np.zeros(n)
    poor_numerator = np.zeros(n)
    poor_denominator = np.zeros(n)
    first = {c: np.zeros(n) for c in _OUTCOME_MEASURES}
    last = {c: np.zeros(n) for c in _OUTCOME_MEASURES}
    count = {c: np.zeros(n, dtype=np.int64) for c in _OUTCOME_MEASURES}
    for j in range(width):
        for column in _OUTCOME_MEASURES:
            healthy = recovered[column]
            true_score = healthy + (intake[column] - healthy) * remaining[j]
            here = available[column][j]
            first[column] = np.where(here & (count[column] == 0), true_score, first[column])
            last[column] = np.where(here, true_score, last[column])
            count[column] += here
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
        # Realised ending.
        draw = rng.random(n)
        leaves = alive & before_end & (draw < hazard)
        referred = alive & before_end & ~leaves & (draw < hazard + refer_now)
        completes = alive & at_end
        ends = leaves | referred | completes
        end_at[ends] = j
        end_kind[leaves] = 1
        end_kind[referred] = 2
        alive &= ~ends
        # Oracle: the same step in expectation.
        short = attended_count[j] < params.dropout_min_attended
        leave_weight = survival * hazard * before_end
        complete_weight = survival * at_end
        p_dropout += leave_weight * (counts_as_dropout_if_leaves | (counts_by_attendance & short))
        p_dropout += complete_weight * (counts_by_attendance & short)
        p_labelled_end += leave_weight + complete_weight
        # Only episodes that can still end here need the (costly) outcome probability.
        active = np.flatnonzero(j <= planned_end)
        improve, labelled = _improvement_probability(
            first={c: v[active] for c, v in first.items()},
            last={c: v[active] for c, v in last.items()},
            count={c: v[active] for c, v in count.items()},
            params=params,
        )
        end_weight = (leave_weight + complete_weight)[active] * labelled
        poor_numerator[active] += end_weight * (1.0 - improve)
        poor_denominator[active] += end_weight
        survival = np.where(at_end, 0.0, survival * (1.0 - (hazard + refer_now) * before_end))
    with np.errstate(invalid="ignore", divide="ignore"):
        oracle_poor = np.where(poor_denominator > 0, poor_numerator / poor_denominator, np.nan)
    return {
        "end_at": end_at,
        "end_kind": end_kind,
        "available": available,
        "oracle_dropout": p_dropout / p_labelled_end,
        "oracle_poor": oracle_poor,
    }


def _observe(
    *,
    base: dict[str, np.ndarray],
    course: dict[str, np.ndarray],
    ending: dict[str, np.ndarray],
    rng: np.random.Generator,
    params: SimulationParams,
    setting: _Setting,
) -> _Block:
    """The block as a clinic records it: appointments, dates, scores, termination."""
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
    return _Block(client=client, session=session)


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
    setting: _Setting,
) -> dict[str, np.ndarray]:
    """Every measure on every kept appointment row; NaN where not recorded.

    Scores are computed only on the rows where the measure is recorded (a clinic uses two
    to four of the seven measures), which keeps large cohorts fast.
    """
    row_client, row_slot = rows
    clinic = base["clinic"][row_client]
    scores: dict[str, np.ndarray] = {}
    for column in _OUTCOME_MEASURES:
        instrument = INSTRUMENTS[column]
        here = np.flatnonzero(ending["available"][column][row_slot, row_client] & attended)
        client, slot = row_client[here], row_slot[here]
        healthy = course["recovered"][column][client]
        true_score = (
            healthy
            + (course["intake"][column][client] - healthy) * course["remaining"][slot, client]
        )
        noise = _score_noise_sd(instrument, params) * rng.standard_normal(len(here))
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
    return scores


def _on_scale(
    value: np.ndarray, *, instrument: Instrument, rows: np.ndarray, size: int
) -> np.ndarray:
    """Scores rounded as the instrument is scored and clipped to its range, placed at
    ``rows`` of a column of ``size`` rows that is NaN elsewhere."""
    decimals = 0 if instrument.integer else (2 if instrument.high <= 5 else 1)
    column = np.full(size, np.nan)
    column[rows] = np.clip(np.round(value, decimals), instrument.low, instrument.high)
    return column


def _text(values: pa.Array) -> pd.Series:
    """A pyarrow string array as a pandas text column (the dtype the contract reader gives)."""
    return pd.Series(pd.arrays.ArrowStringArray(values))


def _labels(codes: np.ndarray, names: tuple[str, ...] | np.ndarray) -> pd.Series:
    return _text(pa.array(np.asarray(names)).take(pa.array(codes)))


def _dates(days: np.ndarray) -> np.ndarray:
    return (days.astype("datetime64[D]")).astype("datetime64[ns]")


def _assemble(*, blocks: list[_Block], setting: _Setting, n_clients: int) -> Cohort:
    client = {k: np.concatenate([b.client[k] for b in blocks]) for k in blocks[0].client}
    offsets = np.cumsum([0] + [len(b.client["age"]) for b in blocks[:-1]])
    session = {
        k: np.concatenate([b.session[k] for b in blocks])
        for k in blocks[0].session
        if k != "client"
    }
    row_client = np.concatenate(
        [b.session["client"] + o for b, o in zip(blocks, offsets, strict=True)]
    )

    width = max(7, len(str(n_clients)))
    numbers = pa.array(np.arange(1, n_clients + 1)).cast(pa.string())
    ids = pa_compute.binary_join_element_wise(
        "c", pa_compute.utf8_lpad(numbers, width, padding="0"), ""
    )
    client_id = _text(ids)
    ongoing = client["termination"] == 3
    clients = pd.DataFrame(
        {
            "client_id": client_id,
            "clinic_id": _labels(client["clinic"], setting.clinic_ids),
            "therapist_id": _labels(client["therapist"], setting.therapist_ids),
            "intake_date": _dates(client["intake_day"]),
            "age": client["age"].astype(np.int64),
            "gender": _labels(client["gender"], GENDERS),
            "primary_concern": _labels(client["concern"], PRIMARY_CONCERNS),
            "prior_treatment": pd.arrays.BooleanArray(
                client["prior_treatment"], ~client["prior_known"]
            ),
            "termination": _labels(client["termination"], TERMINATIONS),
            "end_date": np.where(ongoing, np.datetime64("NaT"), _dates(client["end_day"])),
        }
    )
    columns = {
        "client_id": _text(ids.take(pa.array(row_client))),
        "session_number": session["session_number"].astype(np.int64),
        "session_date": _dates(session["session_day"]),
        "attended": session["attended"],
    }
    for column in MEASURE_COLUMNS:
        values = session[column]
        if INSTRUMENTS[column].integer:
            missing = np.isnan(values)
            columns[column] = pd.arrays.IntegerArray(
                np.where(missing, 0, values).astype(np.int64), missing
            )
        else:
            columns[column] = values
    # copy=False: the arrays are fresh, and consolidating them would copy every column.
    sessions = pd.DataFrame(columns, copy=False)
    oracle = pd.DataFrame(
        {
            "client_id": client_id,
            "dropout_probability": client["oracle_dropout"],
            "poor_outcome_probability": client["oracle_poor"],
        }
    )
    latent = pd.DataFrame(
        {
            "client_id": client_id,
            **{
                k: client[k]
                for k in (
                    "engagement",
                    "severity",
                    "responsiveness",
                    "alliance_trait",
                    "recovery_rate",
                    "planned_sessions",
                    "left_unilaterally",
                )
            },
            "rupture_session": pd.arrays.IntegerArray(
                client["rupture_session"].astype(np.int64), client["rupture_session"] == 0
            ),
            "rupture_repaired": client["rupture_repaired"],
            "sudden_gain_session": pd.arrays.IntegerArray(
                client["sudden_gain_session"].astype(np.int64), client["sudden_gain_session"] == 0
            ),
        }
    )
    return Cohort(clients=clients, sessions=sessions, oracle=oracle, latent=latent)
