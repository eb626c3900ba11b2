"""Explanations: exact TreeSHAP, additive on the probability scale, plain sentences."""

from __future__ import annotations

import numpy as np
import pytest

from features.engineering import compute_features
from features.instruments import INSTRUMENTS, MEASURE_COLUMNS
from features.landmarks import build_landmarks
from models.estimators import booster_margin
from models.explanations import (
    contributions,
    data_gaps,
    explain,
    gap_mask,
    global_importance,
    top_factors,
)


@pytest.fixture(scope="module")
def sample(cohort):
    clients, sessions = cohort
    landmarks = build_landmarks(clients, sessions, max_landmark=5)
    rows = np.random.default_rng(0).choice(len(landmarks.history), 300, replace=False)
    history = landmarks.history.take(rows)
    return history, compute_features(history)


@pytest.mark.parametrize("outcome", ["dropout", "poor_outcome"])
def test_contributions_plus_bias_reproduce_the_margin(trained, sample, outcome):
    _, features = sample
    booster = trained.model.outcome_model(outcome).booster
    shap = contributions(booster, features)
    np.testing.assert_allclose(shap.sum(axis=1), booster_margin(booster, features), atol=1e-4)


@pytest.mark.parametrize("outcome", ["dropout", "poor_outcome"])
def test_concept_effects_add_up_to_the_probability_gap(trained, sample, outcome):
    _, features = sample
    model = trained.model.outcome_model(outcome)
    explanation = explain(model.booster, model.calibrator, features)
    np.testing.assert_allclose(explanation.probability, model.probability(features), atol=1e-6)
    gap = explanation.probability - explanation.base_probability
    parts = explanation.concept_effects.sum(axis=1) + explanation.gap_effect
    np.testing.assert_allclose(parts, gap, atol=1e-6)
    # The gaps are real: most synthetic clinics use two to four of the seven measures.
    assert np.abs(explanation.gap_effect).max() > 0.001


def test_factors_are_sentences_with_direction_and_size(trained, sample):
    history, features = sample
    model = trained.model.dropout
    explanation = explain(model.booster, model.calibrator, features)
    factors = top_factors(explanation, features, history, outcome="dropout", limit=3)
    assert all(len(row) <= 3 for row in factors)
    listed = [f for row in factors for f in row]
    assert listed
    for factor in listed:
        assert factor.direction == ("raises" if factor.effect > 0 else "lowers")
        assert factor.text.endswith(".") and "dropout risk" in factor.text
        assert "not recorded" not in factor.text
        assert "_" not in factor.label  # clinic words, never a feature name
    for row, row_factors in enumerate(factors):
        sizes = [abs(f.effect) for f in row_factors]
        assert sizes == sorted(sizes, reverse=True), row


def test_the_sentence_states_the_size_of_the_effect_it_carries(trained, sample):
    """A page drawing a bar from ``effect`` must find the same whole points in the text."""
    history, features = sample
    for outcome in ("dropout", "poor_outcome"):
        model = trained.model.outcome_model(outcome)
        explanation = explain(model.booster, model.calibrator, features)
        factors = top_factors(explanation, features, history, outcome=outcome, limit=5)
        for factor in (f for row in factors for f in row):
            points = round(abs(factor.effect) * 100)
            if points == 0:
                assert "by less than 1 point" in factor.text
            else:
                assert f"by about {points} point{'s' if points > 1 else ''}." in factor.text


def test_global_importance_lists_every_concept(trained, sample):
    _, features = sample
    model = trained.model.poor_outcome
    importance = global_importance(explain(model.booster, model.calibrator, features))
    assert importance["concepts"]["Symptom change and progress"] > 0
    values = list(importance["concepts"].values())
    assert values == sorted(values, reverse=True)


def test_a_measure_never_recorded_is_a_data_gap_not_a_factor(trained, sample):
    history, features = sample
    gaps = data_gaps(features)
    mask = gap_mask(features)
    for outcome in ("dropout", "poor_outcome"):
        model = trained.model.outcome_model(outcome)
        explanation = explain(model.booster, model.calibrator, features)
        factors = top_factors(explanation, features, history, outcome=outcome, limit=20)
        for row, row_factors in enumerate(factors):
            never = set(gaps[row])
            for factor in row_factors:
                named = [label for label in never if label.split(" (")[0] in factor.text]
                assert not named, (factor.text, never)
            # A feature of a never-recorded measure is counted as a gap, never in a concept.
            recorded_effect = np.where(mask[row], 0.0, explanation.feature_effects[row]).sum()
            assert recorded_effect == pytest.approx(explanation.concept_effects[row].sum())


def test_data_gaps_name_what_was_never_recorded(sample):
    history, features = sample
    for row, names in enumerate(data_gaps(features)):
        measures = history.measures[row]
        for m, column in enumerate(MEASURE_COLUMNS):
            never = bool(np.isnan(measures[:, m]).all())
            assert (INSTRUMENTS[column].label in names) == never


def test_a_given_gap_mask_is_the_one_used(trained, sample):
    # Both outcomes share the batch's mask (models.bundle): the one given must be used.
    _, features = sample
    model = trained.model.dropout
    alone = explain(model.booster, model.calibrator, features)
    shared = explain(model.booster, model.calibrator, features, gaps=gap_mask(features))
    np.testing.assert_array_equal(shared.concept_effects, alone.concept_effects)
    np.testing.assert_array_equal(shared.gap_effect, alone.gap_effect)
    none = np.zeros_like(alone.gaps)
    no_gaps = explain(model.booster, model.calibrator, features, gaps=none)
    assert not no_gaps.gap_effect.any()
    np.testing.assert_allclose(
        no_gaps.concept_effects.sum(axis=1), alone.probability - alone.base_probability
    )
