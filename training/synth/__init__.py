"""A simulator of clinic extracts: episodes of outpatient psychotherapy, session by session.

The generative model, every parameter and its source are described in ``docs/simulator.md``;
the sources are those collected in ``shared/research/domain.md`` (section "Implications for
a synthetic-data generator", cited as "target N"). Instrument ranges, reliable change and
measurement error are read from :mod:`features.instruments`.

In brief: each client has latent traits (engagement, intake severity, responsiveness,
alliance propensity). A latent symptom course (the share of intake distress still present)
and a latent alliance course evolve together session by session, each feeding the other
with a one-session lag; ruptures and sudden gains are events on these courses. Appointments
are scheduled weekly; some are missed. After each appointment before the planned ending
the client may leave unilaterally, with a hazard that falls over sessions and rises with
low alliance, unrepaired ruptures, missed appointments and low engagement. Observed scores
are the latent courses seen through each clinic's instruments, with measurement error.

Modules, in the order a block of clients passes through them: :mod:`.params` (every
parameter and its source), :mod:`.setting` (clinics and therapists), :mod:`.clients`
(intake fields and latent traits), :mod:`.courses` (symptom and alliance courses, ruptures,
sudden gains, missed appointments), :mod:`.endings` (leaving, referral, completion),
:mod:`.oracle` (the true label probabilities), :mod:`.observe` (instruments, measurement
error, missingness, dates), :mod:`.tables` (the contract tables, CSV files) and
:mod:`.simulate` (the whole cohort). :mod:`.targets` checks a cohort against domain.md.
"""

from training.synth.params import DEFAULT_CLINIC_PROFILES, ClinicProfile, SimulationParams
from training.synth.simulate import simulate_cohort
from training.synth.tables import Cohort, write_cohort
from training.synth.targets import TargetCheck, achieved_targets

__all__ = [
    "DEFAULT_CLINIC_PROFILES",
    "ClinicProfile",
    "Cohort",
    "SimulationParams",
    "TargetCheck",
    "achieved_targets",
    "simulate_cohort",
    "write_cohort",
]
