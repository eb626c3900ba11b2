"""The simulator reproduces every generator target of domain.md, for any seed."""

from __future__ import annotations

import dataclasses

import pytest

from training.synth import SimulationParams, TargetCheck, achieved_targets, simulate_cohort

SEEDS = (1, 2)
COHORT_SIZE = 20_000


def _misses(checks: list[TargetCheck]) -> list[str]:
    return [
        f"{check.name}: {check.achieved:.3f} not in [{check.low}, {check.high}] ({check.source})"
        for check in checks
        if not check.passed
    ]


@pytest.mark.parametrize("seed", SEEDS)
def test_every_target_lies_in_its_range(seed: int) -> None:
    checks = achieved_targets(simulate_cohort(n_clients=COHORT_SIZE, seed=seed))

    assert len(checks) >= 40
    assert not _misses(checks), "\n".join(_misses(checks))


def test_a_miscalibrated_simulator_misses_its_targets() -> None:
    # Dropout four times as likely per session, and no alliance effect on dropout.
    broken = dataclasses.replace(
        SimulationParams(), dropout_logit_first=-2.6, dropout_alliance=0.0
    )
    checks = {
        c.name: c for c in achieved_targets(simulate_cohort(n_clients=5000, seed=3, params=broken))
    }

    assert not checks["dropout rate (dropout / completed + dropout)"].passed
    assert not checks["alliance-dropout d, client WAI-SR (sessions 1-3)"].passed


def test_a_target_check_passes_only_inside_its_range() -> None:
    assert TargetCheck("x", 0.5, 0.4, 0.6, "s").passed
    assert not TargetCheck("x", 0.7, 0.4, 0.6, "s").passed
    assert not TargetCheck("x", float("nan"), 0.4, 0.6, "s").passed
