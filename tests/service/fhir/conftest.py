"""Fixtures of the FHIR tests: synthetic clients as contract rows."""

from __future__ import annotations

import pytest

from tests.support.fhir_bundles import cohort_cases


@pytest.fixture(scope="session")
def synthetic_clients():
    """60 contract-valid synthetic clients, each with all its sessions, as plain rows."""
    from features.contract import validate_extract
    from training.synth import simulate_cohort

    simulated = simulate_cohort(n_clients=60, seed=23)
    report = validate_extract(simulated.clients, simulated.sessions)
    assert report.ok, report.lines()[:5]
    return cohort_cases(report.clients, report.sessions)
