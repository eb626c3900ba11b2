"""Explanations: exact TreeSHAP, additive on the probability scale, plain sentences."""

from __future__ import annotations

import numpy as np
import pytest

from features.engineering import compute_features
from features.landmarks import build_landmarks
from models.estimators import booster_margin
from models.explanations import contributions, explain, global_importance, top_factors


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
    np.testing.assert_allclose(explanation.concept_effects.sum(axis=1), gap, atol=1e-6)


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
        assert factor.text.endswith(".") and "dropout estimate" in factor.text
        assert "_" not in factor.label  # clinic words, never a feature name
    for row, row_factors in enumerate(factors):
        sizes = [abs(f.effect) for f in row_factors]
        assert sizes == sorted(sizes, reverse=True), row


def test_global_importance_lists_every_concept(trained, sample):
    _, features = sample
    model = trained.model.poor_outcome
    importance = global_importance(explain(model.booster, model.calibrator, features))
    assert importance["concepts"]["Symptom change and progress"] > 0
    values = list(importance["concepts"].values())
    assert values == sorted(values, reverse=True)
