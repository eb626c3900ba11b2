"""Input drift: the training profile, PSI, and detection on shifted and unshifted cohorts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.contract import validate_extract
from features.engineering import FEATURE_NAMES
from features.instruments import MEASURE_COLUMNS
from features.vocabulary import OUTCOMES
from models.profile import Binned, decile_edges
from monitoring.drift import population_stability
from monitoring.report import monitor
from tests.support.records import scored_records
from training.synth import simulate_cohort

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(finite, st.just(float("nan"))), min_size=1, max_size=200))
def test_a_sample_has_no_drift_against_its_own_profile(values):
    values = np.asarray(values)
    binned = Binned.of(values, edges=decile_edges(values))
    assert sum(binned.shares) == pytest.approx(1.0)
    assert population_stability(binned, binned) == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(finite, min_size=5, max_size=100),
    st.lists(st.one_of(finite, st.just(float("nan"))), min_size=1, max_size=100),
)
def test_psi_is_never_negative(reference_values, current_values):
    edges = decile_edges(np.asarray(reference_values))
    reference = Binned.of(np.asarray(reference_values), edges=edges)
    current = Binned.of(np.asarray(current_values), edges=edges)
    assert population_stability(reference, current) >= 0.0


def test_psi_grows_with_the_shift():
    rng = np.random.default_rng(0)
    base = rng.normal(size=5000)
    reference = Binned.of(base, edges=decile_edges(base))
    psis = [
        population_stability(
            reference, Binned.of(rng.normal(shift, size=5000), edges=reference.edges)
        )
        for shift in (0.0, 0.25, 0.5, 1.0)
    ]
    assert psis == sorted(psis)
    assert psis[0] < 0.02 and psis[-1] > 0.25


def test_the_profile_is_in_the_bundle_of_a_trained_model(trained):
    profile = trained.model.metadata["reference"]
    assert set(profile["features"]) == set(FEATURE_NAMES)
    assert set(profile["availability"]) == set(MEASURE_COLUMNS)
    assert set(profile["scores"]) == set(OUTCOMES)
    assert profile["rows"] > 0
    for stored in profile["features"].values():
        assert sum(stored["shares"]) == pytest.approx(1.0)


def _cohort(seed, n_clients=2500):
    simulated = simulate_cohort(n_clients=n_clients, seed=seed)
    report = validate_extract(simulated.clients, simulated.sessions)
    assert report.ok
    return report.clients, report.sessions


def _shifted(sessions):
    """A clinic whose clients arrive sicker on PHQ-9 and which has stopped using GAD-7."""
    shifted = sessions.copy()
    phq9 = shifted["phq9"].astype("Float64")
    shifted["phq9"] = (phq9 + 6).clip(upper=27).round().astype(sessions["phq9"].dtype)
    shifted["gad7"] = pd.Series(pd.NA, index=shifted.index, dtype=sessions["gad7"].dtype)
    return shifted


def _drift_alerts(trained, clients, sessions):
    records = scored_records(clients, sessions, trained.model)
    report = monitor(records, [], references={"1": trained.model.metadata["reference"]})
    (window,) = report.windows
    return window, {alert.subject for alert in report.alerts if alert.code == "input_drift"}


@pytest.mark.slow
def test_drift_is_detected_on_a_shifted_cohort_and_not_on_an_unshifted_one(trained):
    clients, sessions = _cohort(seed=123)  # same simulator, other clients than training's

    window, flagged = _drift_alerts(trained, clients, sessions)
    assert window.assessments > 5000
    assert flagged == set()
    assert max(window.drift["features"].values()) < 0.1  # "stable" on the usual scale
    assert max(window.drift["scores"].values()) < 0.1

    window, flagged = _drift_alerts(trained, clients, _shifted(sessions))
    assert {"phq9_latest", "phq9_first", "availability:gad7"} <= flagged
    assert not any(name.startswith(("wai_", "srs_", "ors_", "oq45_")) for name in flagged)
    assert window.drift["availability"]["gad7"] > 1.0
