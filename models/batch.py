"""Batch scoring of an extract: one row per client and landmark k = 1..min(L, sessions).

Uses the same landmark points, histories, feature function and bundle as training and the
service; pandas only for the tables in and out.
"""

from __future__ import annotations

import json

import pandas as pd

from features.history import HistoryBatch
from features.landmarks import landmark_points
from features.vocabulary import DEFAULT_FACTORS, OUTCOMES
from models.bundle import RiskModel

SCORE_COLUMNS = (
    "client_id",
    "as_of_session",
    "dropout_probability",
    "dropout_probability_low",
    "dropout_probability_high",
    "dropout_risk_level",
    "poor_outcome_probability",
    "poor_outcome_probability_low",
    "poor_outcome_probability_high",
    "poor_outcome_risk_level",
)
#: Per outcome, the OutcomeAssessment attributes written as ``{outcome}_{attribute}``.
_OUTCOME_FIELDS = ("probability", "probability_low", "probability_high", "risk_level")


def score_extract(
    model: RiskModel, clients: pd.DataFrame, sessions: pd.DataFrame, *, explain: bool = False
) -> pd.DataFrame:
    """Scores of every landmark of a contract-valid extract (factors as JSON with ``explain``)."""
    points = landmark_points(sessions, max_landmark=model.max_landmark)
    history = HistoryBatch.from_tables(clients, sessions, points, window=model.max_landmark)
    assessments = model.assess(history, factors=DEFAULT_FACTORS if explain else 0)
    table = points.assign(
        **{
            f"{outcome}_{field}": [getattr(getattr(a, outcome), field) for a in assessments]
            for outcome in OUTCOMES
            for field in _OUTCOME_FIELDS
        }
    )[list(SCORE_COLUMNS)]
    if explain:
        for outcome in OUTCOMES:
            table[f"{outcome}_factors"] = [
                json.dumps([f.text for f in getattr(a, outcome).factors]) for a in assessments
            ]
        table["signals"] = [json.dumps([s.code for s in a.signals]) for a in assessments]
    return table
