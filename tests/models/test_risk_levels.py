"""Risk levels by an alert budget, and what each level meant on held-out clients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.risk_levels import AlertBudget, choose_thresholds, level_meaning, summarise_levels


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    high=st.floats(0.05, 0.3),
    moderate=st.floats(0.0, 0.3),
    ties=st.booleans(),
)
def test_the_high_level_never_takes_more_than_its_budget(seed, high, moderate, ties):
    rng = np.random.default_rng(seed)
    probability = rng.beta(2, 5, 3000)
    if ties:  # a coarse model: many equal probabilities
        probability = np.round(probability, 2)
    clients = np.repeat(np.arange(600), 5)
    thresholds = choose_thresholds(
        probability, clients, budget=AlertBudget(high=high, moderate=moderate)
    )
    assert np.mean(probability >= thresholds.high) <= high
    assert thresholds.moderate <= thresholds.high
    assert np.mean(probability >= thresholds.moderate) <= high + moderate + 1e-9


def test_levels_are_summarised_as_shares_rates_and_sensitivity():
    rng = np.random.default_rng(3)
    probability = rng.beta(2, 5, 4000)
    labels = (rng.uniform(size=4000) < probability).astype(float)
    clients = np.repeat(np.arange(800), 5)
    sessions = np.tile(np.arange(1, 6), 800)
    chosen = choose_thresholds(probability, clients, budget=AlertBudget())
    summary = summarise_levels(chosen, probability, labels, clients, sessions)
    levels = summary.levels
    assert sum(level.share for level in levels.values()) == pytest.approx(1, abs=1e-3)
    # Higher levels hold more of the outcome, and catch a smaller share of it.
    assert levels["low"].observed_rate < levels["moderate"].observed_rate
    assert levels["moderate"].observed_rate < levels["high"].observed_rate
    assert levels["low"].sensitivity == 1.0
    assert levels["moderate"].sensitivity > levels["high"].sensitivity
    flagged = (probability >= chosen.high).reshape(800, 5).any(axis=1).mean()
    assert levels["high"].clients_flagged_early == pytest.approx(flagged, abs=1e-4)
    assert summary.base_rate == pytest.approx(labels.mean(), abs=1e-4)


def test_the_meaning_of_a_level_is_said_in_clients_out_of_ten():
    rng = np.random.default_rng(4)
    probability = rng.beta(2, 5, 4000)
    labels = (rng.uniform(size=4000) < probability).astype(float)
    clients = np.repeat(np.arange(800), 5)
    chosen = choose_thresholds(probability, clients, budget=AlertBudget())
    summary = summarise_levels(chosen, probability, labels, clients, np.tile(np.arange(1, 6), 800))
    text = level_meaning("dropout", "high", summary)
    expected = round(summary.levels["high"].observed_rate * 10)
    assert f"About {expected} in 10 clients at high risk went on to drop out" in text
    assert f"it was {round(summary.base_rate * 10)} in 10" in text
    assert level_meaning("dropout", "high", chosen) is None  # no held-out figures yet
