"""Venn-Abers intervals: they contain the point, hold on calibrated data, widen with scarcity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.intervals import VennAbersInterval


def _calibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    probability = rng.beta(2, 5, n)
    return probability, (rng.uniform(size=n) < probability).astype(int)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    points=st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=50),
)
def test_the_interval_always_contains_the_point(seed, points):
    interval = VennAbersInterval.fit(*_calibrated(500, seed))
    probability = np.asarray(points)
    low, high = interval.bounds(probability)
    assert np.all(low <= probability) and np.all(probability <= high)
    assert np.all((low >= 0) & (high <= 1))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_on_new_clients_like_the_calibration_ones_the_observed_rate_lies_inside(seed):
    interval = VennAbersInterval.fit(*_calibrated(5_000, seed))
    probability, outcome = _calibrated(50_000, seed + 100)
    low, high = interval.bounds(probability)
    order = np.argsort(probability)
    inside = 0
    for part in np.array_split(order, 10):
        observed = outcome[part].mean()
        # The guarantee is about averages; allow the binomial noise of 5,000 new clients.
        noise = 2 * np.sqrt(observed * (1 - observed) / len(part))
        inside += low[part].mean() - noise <= observed <= high[part].mean() + noise
    assert inside >= 9


def test_the_interval_is_wider_where_calibration_clients_were_few():
    interval = VennAbersInterval.fit(*_calibrated(2_000, 5))
    low, high = interval.bounds(np.array([0.25, 0.9]))
    width = high - low
    assert width[1] > width[0]  # beta(2, 5) puts few clients near 0.9


def test_one_outcome_only_is_refused():
    with pytest.raises(ValueError, match="both outcomes"):
        VennAbersInterval.fit(np.array([0.2, 0.3]), np.array([1, 1]))


def test_the_interval_round_trips_through_json_ready_lists():
    interval = VennAbersInterval.fit(*_calibrated(1_000, 3))
    again = VennAbersInterval.from_dict(interval.to_dict())
    probability = np.linspace(0, 1, 101)
    np.testing.assert_array_equal(interval.bounds(probability), again.bounds(probability))
