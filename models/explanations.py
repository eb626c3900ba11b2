"""Per-prediction explanations a clinician can read in ten seconds.

1. Exact TreeSHAP contributions from XGBoost itself (``pred_contribs``): per feature, in
   the booster's log-odds, summing with the bias to the margin.
2. Scaled by the calibrator's slope they sum to the calibrated log-odds; grouped by the
   clinical concept of each feature (client-rated alliance, attendance, ...).
3. Converted to the probability scale so that the concept effects add up exactly to the
   difference between this client's probability and the model's base probability: each
   concept gets its share of that difference in proportion to its log-odds contribution.
4. Each concept becomes one plain sentence built from the client's own values
   (:mod:`models.sentences`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xgboost as xgb

from features.engineering import CONCEPTS, FEATURE_NAMES, FEATURES
from features.history import HistoryBatch
from features.vocabulary import OUTCOME_WORDS
from models.calibration import MarginCalibrator, sigmoid
from models.sentences import describe

#: Contributions smaller than this (probability scale) are not listed as factors.
MIN_EFFECT = 0.001
_CONCEPT_KEYS = tuple(CONCEPTS)
_CONCEPT_OF_FEATURE = np.array([_CONCEPT_KEYS.index(f.concept) for f in FEATURES])
_CONCEPT_MEMBERS = [
    np.flatnonzero(concept == _CONCEPT_OF_FEATURE) for concept in range(len(_CONCEPT_KEYS))
]


@dataclass(frozen=True, slots=True)
class Factor:
    """One clinical concept's contribution to one client's estimate.

    Attributes:
        feature: the concept key (``client_alliance``, ``attendance``, ...).
        label: what was seen, in a few words ("Client-rated alliance fell from 4.1 to 3.2").
        value: the values behind it ("4.1 -> 3.2 (session 3)").
        effect: signed contribution on the probability scale (0.06 = 6 points).
        direction: ``raises`` or ``lowers``.
        text: one sentence for the clinician.
    """

    feature: str
    label: str
    value: str
    effect: float
    direction: str
    text: str


@dataclass(frozen=True)
class Explanation:
    """Contributions of a batch of predictions.

    Attributes:
        contributions: (n, n_features + 1) TreeSHAP values in booster log-odds, bias last.
        probability: (n,) calibrated probabilities.
        base_probability: the calibrated probability at the bias alone.
        concept_effects: (n, n_concepts) probability-scale effects, summing per row to
            ``probability - base_probability``.
    """

    contributions: np.ndarray
    probability: np.ndarray
    base_probability: np.ndarray
    concept_effects: np.ndarray


def contributions(booster: xgb.Booster, features: np.ndarray) -> np.ndarray:
    """Exact TreeSHAP values (log-odds) with the bias in the last column.

    ``features`` are in :data:`FEATURE_NAMES` order (the feature function's output); the
    booster's names are checked once, when a bundle loads, because attaching and checking
    80 names on every call costs about as much as the trees of a single row.
    """
    matrix = xgb.DMatrix(features, missing=np.nan)
    return booster.predict(matrix, pred_contribs=True, validate_features=False)


def explain(
    booster: xgb.Booster, calibrator: MarginCalibrator, features: np.ndarray
) -> Explanation:
    """Contributions of every row, grouped by concept on the probability scale."""
    shap = contributions(booster, features)
    margin = shap.sum(axis=1)
    bias = shap[:, -1]
    log_odds = calibrator.log_odds(margin)
    base_log_odds = calibrator.log_odds(bias)
    probability, base = sigmoid(log_odds), sigmoid(base_log_odds)
    grouped = np.zeros((len(features), len(_CONCEPT_KEYS)))
    np.add.at(grouped.T, _CONCEPT_OF_FEATURE, calibrator.slope * shap[:, :-1].T)
    gap = log_odds - base_log_odds
    # Secant of the sigmoid between base and this client: exact additivity on probabilities;
    # where the gap is ~0 the tangent (p(1-p)) is its limit.
    with np.errstate(invalid="ignore", divide="ignore"):
        secant = np.where(
            np.abs(gap) > 1e-9, (probability - base) / gap, probability * (1 - probability)
        )
    return Explanation(
        contributions=shap,
        probability=probability,
        base_probability=base,
        concept_effects=grouped * secant[:, None],
    )


def top_factors(
    explanation: Explanation,
    features: np.ndarray,
    history: HistoryBatch,
    *,
    outcome: str,
    limit: int = 5,
) -> list[list[Factor]]:
    """The largest concept effects of each row as clinician-facing factors."""
    factors: list[list[Factor]] = []
    feature_effects = explanation.contributions[:, :-1]
    for row in range(len(features)):
        effects = explanation.concept_effects[row]
        order = np.argsort(-np.abs(effects), kind="stable")[:limit]
        row_factors = []
        row_history = None  # sliced once per row: slicing costs more than a sentence
        for concept_index in order:
            effect = float(effects[concept_index])
            if abs(effect) < MIN_EFFECT:
                break
            concept = _CONCEPT_KEYS[concept_index]
            members = _CONCEPT_MEMBERS[concept_index]
            leading = FEATURE_NAMES[members[np.argmax(np.abs(feature_effects[row, members]))]]
            if row_history is None:
                row_history = history.take([row])
            label, value = describe(concept, leading, features[row], row_history)
            row_factors.append(_factor(concept, label, value, effect, outcome))
        factors.append(row_factors)
    return factors


def _factor(concept: str, label: str, value: str, effect: float, outcome: str) -> Factor:
    direction = "raises" if effect > 0 else "lowers"
    points = abs(effect) * 100
    size = "by less than 1 point" if points < 0.5 else f"by about {points:.0f} points"
    text = f"{label}; this {direction} the {OUTCOME_WORDS[outcome]} estimate {size}."
    return Factor(concept, label, value, round(effect, 4), direction, text)


def global_importance(explanation: Explanation) -> dict[str, dict[str, float]]:
    """Mean absolute contribution per concept (probability points) and per feature (log-odds)."""
    concepts = np.abs(explanation.concept_effects).mean(axis=0) * 100
    per_feature = np.abs(explanation.contributions[:, :-1]).mean(axis=0)
    return {
        "concepts": {
            CONCEPTS[key]: round(float(v), 3)
            for key, v in sorted(zip(_CONCEPT_KEYS, concepts, strict=True), key=lambda kv: -kv[1])
        },
        "features": {
            name: round(float(v), 4)
            for name, v in sorted(
                zip(FEATURE_NAMES, per_feature, strict=True), key=lambda kv: -kv[1]
            )
        },
    }
