"""Per-prediction explanations a clinician can read in ten seconds.

1. Exact TreeSHAP contributions: per feature, in the booster's log-odds, summing with the
   bias to the margin; XGBoost's own values, from per-leaf tables (:mod:`models.shap_tables`)
   or from XGBoost (``pred_contribs``, called through its C API: :mod:`models.tree_shap`)
   for a booster that has none.
2. Scaled by the calibrator's slope they sum to the calibrated log-odds; converted to the
   probability scale so that they add up exactly to the difference between this client's
   probability and the model's base probability (each feature gets its share of that
   difference in proportion to its log-odds contribution).
3. Contributions of measures never recorded (and of an unknown previous treatment) are
   *data gaps*: they are summed apart and the measures named once
   (:func:`data_gaps`), never listed as clinical factors. The rest are grouped by the
   clinical concept of each feature (client-rated alliance, attendance, ...).
4. Each concept becomes one plain sentence built from the client's own values, describing
   the part of the concept that carries the contribution (:mod:`models.sentences`).

Concept effects, the gaps' effect and nothing else sum to ``probability - base``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xgboost as xgb

from features.engineering import CONCEPTS, FEATURE_INDEX, FEATURE_NAMES, FEATURES
from features.history import HistoryBatch
from features.instruments import INSTRUMENTS, MEASURE_COLUMNS
from models.calibration import MarginCalibrator, sigmoid
from models.sentence_inputs import ClientHistory, ReferenceProfile
from models.sentences import ConceptEffects, describe
from models.shap_tables import ShapTables
from models.tree_shap import ScoringMatrix, tree_contributions

#: Contributions smaller than this (probability scale) are not listed as factors.
MIN_EFFECT = 0.001
#: How a missing previous treatment is named among the data gaps.
PRIOR_TREATMENT_GAP = "Previous treatment (intake)"
_CONCEPT_KEYS = tuple(CONCEPTS)
_CONCEPT_OF_FEATURE = np.array([_CONCEPT_KEYS.index(f.concept) for f in FEATURES])
_CONCEPT_MEMBER_LISTS = [
    np.flatnonzero(concept == _CONCEPT_OF_FEATURE).tolist()
    for concept in range(len(_CONCEPT_KEYS))
]
# Per source (measure or intake item): the feature whose absence means "never recorded".
_RECORDED_BY = {m: FEATURE_INDEX[f"{m}_latest"] for m in MEASURE_COLUMNS} | {
    "prior_treatment": FEATURE_INDEX["prior_treatment"]
}
_SOURCES = tuple(_RECORDED_BY)


def _source_matrix(every: bool) -> np.ndarray:
    matrix = np.zeros((len(FEATURES), len(_SOURCES)), dtype=bool)
    for i, feature in enumerate(FEATURES):
        if feature.needs_every_source == every:
            for source in feature.sources:
                matrix[i, _SOURCES.index(source)] = True
    return matrix


_ANY_SOURCE_MISSING = _source_matrix(every=True)  # missing when any source is
_ALL_SOURCES_MISSING = _source_matrix(every=False)  # missing only when all sources are
_HAS_SOURCES = _ANY_SOURCE_MISSING.any(axis=1) | _ALL_SOURCES_MISSING.any(axis=1)


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
        feature_effects: (n, n_features) probability-scale effects, summing per row to
            ``probability - base_probability``.
        gaps: (n, n_features) whether a feature is missing because what it is computed from
            was never recorded.
        concept_effects: (n, n_concepts) probability-scale effects of the recorded data.
        gap_effect: (n,) probability-scale effect of the data gaps; with the concept
            effects it sums to ``probability - base_probability``.
    """

    contributions: np.ndarray
    probability: np.ndarray
    base_probability: np.ndarray
    feature_effects: np.ndarray
    gaps: np.ndarray
    concept_effects: np.ndarray
    gap_effect: np.ndarray


def never_recorded(features: np.ndarray) -> np.ndarray:
    """(n, n_sources) whether each measure (and previous treatment) was never recorded."""
    return np.isnan(features[:, [_RECORDED_BY[s] for s in _SOURCES]])


def gap_mask(features: np.ndarray) -> np.ndarray:
    """(n, n_features) whether each feature stands for data never recorded.

    By its sources, not by NaN: a count of scores is 0, not missing, for a measure the
    client never had, and its effect is a data gap all the same.
    """
    never = never_recorded(features).astype(float)
    any_missing = never @ _ANY_SOURCE_MISSING.T.astype(float) > 0
    present = (1.0 - never) @ _ALL_SOURCES_MISSING.T.astype(float)
    all_missing = present == 0
    by_sources = np.where(_ANY_SOURCE_MISSING.any(axis=1), any_missing, all_missing)
    return _HAS_SOURCES & by_sources


def data_gaps(features: np.ndarray) -> list[list[str]]:
    """Per row, what was never recorded so far, in the clinician's words."""
    never = never_recorded(features)
    names = [
        PRIOR_TREATMENT_GAP if source == "prior_treatment" else INSTRUMENTS[source].label
        for source in _SOURCES
    ]
    return [[names[j] for j in np.flatnonzero(row)] for row in never]


#: Below this many rows a DMatrix is built on one thread (see :func:`contributions`).
_ROWS_PER_THREAD = 256


def scoring_matrix(features: np.ndarray) -> ScoringMatrix:
    """The XGBoost matrix of ``features`` (rows in :data:`FEATURE_NAMES` order), built once
    and shared by both outcomes' boosters: building it costs about as much as the trees of
    a few rows."""
    # One thread for a few rows: waking OpenMP's team costs more than the rows, and on a
    # busy machine its barrier can wait milliseconds; big batches use every core.
    threads = 1 if len(features) <= _ROWS_PER_THREAD else -1
    return ScoringMatrix(features, threads=threads)


def contributions(
    booster: xgb.Booster,
    features: np.ndarray,
    *,
    matrix: ScoringMatrix | None = None,
    tables: ShapTables | None = None,
) -> np.ndarray:
    """Exact TreeSHAP values (log-odds) with the bias in the last column.

    ``features`` are in :data:`FEATURE_NAMES` order (the feature function's output); the
    booster's names are checked once, when a bundle loads, because attaching and checking
    80 names on every call costs about as much as the trees of a single row. ``tables``:
    the booster's :class:`ShapTables`, which give the same values several times faster;
    without them XGBoost computes them, from ``matrix`` (their :func:`scoring_matrix`)
    when the caller has built it already.
    """
    if tables is not None:
        return tables.contributions(features)
    if matrix is None:
        matrix = scoring_matrix(features)
    return tree_contributions(booster, matrix)


def explain(
    booster: xgb.Booster,
    calibrator: MarginCalibrator,
    features: np.ndarray,
    *,
    matrix: ScoringMatrix | None = None,
    gaps: np.ndarray | None = None,
    tables: ShapTables | None = None,
) -> Explanation:
    """Contributions of every row on the probability scale, by concept and data gaps.

    ``matrix`` and ``gaps``: the :func:`scoring_matrix` and :func:`gap_mask` of
    ``features``, when the caller has them already (both outcomes share them); ``tables``:
    the booster's :class:`ShapTables` (see :func:`contributions`).
    """
    # In double precision: the parts must add up to the probability to float64 accuracy.
    shap = contributions(booster, features, matrix=matrix, tables=tables).astype(np.float64)
    margin = shap.sum(axis=1)
    bias = shap[:, -1]
    log_odds = calibrator.log_odds(margin)
    base_log_odds = calibrator.log_odds(bias)
    probability, base = sigmoid(log_odds), sigmoid(base_log_odds)
    gap = log_odds - base_log_odds
    # Secant of the sigmoid between base and this client: exact additivity on probabilities;
    # where the gap is ~0 the tangent (p(1-p)) is its limit.
    with np.errstate(invalid="ignore", divide="ignore"):
        secant = np.where(
            np.abs(gap) > 1e-9, (probability - base) / gap, probability * (1 - probability)
        )
    feature_effects = calibrator.slope * shap[:, :-1] * secant[:, None]
    if gaps is None:
        gaps = gap_mask(features)
    recorded = np.where(gaps, 0.0, feature_effects)
    grouped = np.zeros((len(features), len(_CONCEPT_KEYS)))
    np.add.at(grouped.T, _CONCEPT_OF_FEATURE, recorded.T)
    return Explanation(
        contributions=shap,
        probability=probability,
        base_probability=base,
        feature_effects=feature_effects,
        gaps=gaps,
        concept_effects=grouped,
        gap_effect=np.where(gaps, feature_effects, 0.0).sum(axis=1),
    )


def top_factors(
    explanation: Explanation,
    features: np.ndarray,
    history: HistoryBatch | Sequence[ClientHistory],
    *,
    outcome: str,
    limit: int = 5,
    reference: ReferenceProfile | Mapping[str, object] | None = None,
    outcome_phrases: list[str] | None = None,
) -> list[list[Factor]]:
    """The largest concept effects of each row as clinician-facing factors.

    Args:
        explanation: the rows' contributions.
        features: their feature vectors.
        history: their histories (or :meth:`ClientHistory.each` of them, read once for
            both outcomes).
        outcome: ``dropout`` or ``poor_outcome``.
        limit: factors per row at most.
        reference: the training population's profile (bundle metadata ``reference``, or
            its :class:`ReferenceProfile`), for level words.
        outcome_phrases: per row, the outcome as the sentence names it ("dropout risk");
            default: :func:`outcome_phrase` without the client's start.
    """
    factors: list[list[Factor]] = []
    profile = reference if isinstance(reference, ReferenceProfile) else ReferenceProfile(reference)
    clients = ClientHistory.each(history) if isinstance(history, HistoryBatch) else history
    orders = np.argsort(-np.abs(explanation.concept_effects), axis=1, kind="stable")[:, :limit]
    # Read as Python values: indexing numpy one element at a time, for every feature of
    # every factor, cost more than the sentences.
    concept_effects = explanation.concept_effects.tolist()
    for row, (order, effects) in enumerate(zip(orders.tolist(), concept_effects, strict=True)):
        phrase = outcome_phrases[row] if outcome_phrases else outcome_phrase(outcome, None)
        row_factors = []
        row_effects = row_gaps = None
        for concept_index in order:
            effect = effects[concept_index]
            if abs(effect) < MIN_EFFECT:
                break
            if row_effects is None:
                row_effects = explanation.feature_effects[row].tolist()
                row_gaps = explanation.gaps[row].tolist()
            within = ConceptEffects(
                concept=_CONCEPT_KEYS[concept_index],
                effects={
                    FEATURE_NAMES[i]: row_effects[i]
                    for i in _CONCEPT_MEMBER_LISTS[concept_index]
                    if not row_gaps[i]
                },
            )
            label, value = describe(
                within, features[row], clients[row], outcome=outcome, reference=profile
            )
            row_factors.append(_factor(within.concept, label, value, effect, phrase))
        factors.append(row_factors)
    return factors


def outcome_phrase(outcome: str, clinical_start: bool | None) -> str:
    """The risk a factor moves, in the clinician's words.

    For poor outcome the words depend on where the client started (data contract,
    revision 2): in the clinical range (or not yet known) the risk is of no reliable
    recovery; below it, of reliable deterioration.
    """
    if outcome == "dropout":
        return "dropout risk"
    if clinical_start is False:
        return "risk of reliable deterioration"
    return "risk of no reliable recovery"


def outcome_name(outcome: str, clinical_start: bool | None) -> str:
    """The outcome itself in the clinician's words (see :func:`outcome_phrase`)."""
    if outcome == "dropout":
        return "dropout"
    return "reliable deterioration" if clinical_start is False else "no reliable recovery"


#: The warning on an answer that rests on attendance and intake details alone.
TOO_LITTLE_WARNING = (
    "No session measure has been recorded yet: these estimates rest on attendance and intake "
    "details alone, and say little about this client. Record the alliance and symptom "
    "measures to get an estimate worth acting on."
)


def too_little_to_go_on(features: np.ndarray) -> np.ndarray:
    """Per row, whether no session measure has been recorded at all so far."""
    never = never_recorded(features)
    measures = [i for i, source in enumerate(_SOURCES) if source in MEASURE_COLUMNS]
    return never[:, measures].all(axis=1)


def _factor(concept: str, label: str, value: str, effect: float, phrase: str) -> Factor:
    direction = "raises" if effect > 0 else "lowers"
    # The words are sized from the effect as served (4 decimals), so that a report drawing
    # its bar from the served effect never says 2 points beside a sentence saying 1.
    effect = round(effect, 4)
    points = round(abs(effect) * 100)
    if points == 0:
        size = "by less than 1 point"
    elif points == 1:
        size = "by about 1 point"
    else:
        size = f"by about {points} points"
    text = f"{label}; this {direction} the {phrase} {size}."
    return Factor(concept, label, value, effect, direction, text)


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
