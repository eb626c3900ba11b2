"""Landmarks: one prediction point per client and session k = 1..L.

A score is made "as of session k" from the client row and sessions 1..k only. For
training, each episode gives one example per landmark k at which the client was still in
treatment: it had a k-th scheduled session (attended or missed). Sessions are numbered
1, 2, 3, ... without gaps (data contract), so these are exactly the session rows numbered
at most L.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features.history import HistoryBatch
from features.labels import derive_labels
from features.vocabulary import DEFAULT_LANDMARKS


@dataclass(frozen=True)
class LandmarkSet:
    """Prediction points of an extract and the histories behind them, row by row.

    Attributes:
        examples: one row per (client, k): ``client_id``, ``as_of_session``, ``clinic_id``,
            ``therapist_id`` (for grouped splits and subgroup reports), the subgroup columns
            ``gender``, ``age``, ``primary_concern``, and the labels ``dropout`` and
            ``poor_outcome`` (missing where the contract gives none).
        history: the history of each row, cut at its k.
        max_landmark: L.
    """

    examples: pd.DataFrame
    history: HistoryBatch
    max_landmark: int


def landmark_points(sessions: pd.DataFrame, *, max_landmark: int) -> pd.DataFrame:
    """``client_id`` and ``as_of_session`` for every scheduled session numbered 1..L."""
    if max_landmark < 1:
        raise ValueError("max_landmark must be at least 1")
    points = sessions.loc[sessions["session_number"] <= max_landmark, ["client_id"]]
    points = points.assign(as_of_session=sessions["session_number"].astype("int64"))
    return points.sort_values(["client_id", "as_of_session"], kind="stable").reset_index(drop=True)


def build_landmarks(
    clients: pd.DataFrame, sessions: pd.DataFrame, *, max_landmark: int = DEFAULT_LANDMARKS
) -> LandmarkSet:
    """Every landmark of a contract-valid extract, with labels and histories."""
    points = landmark_points(sessions, max_landmark=max_landmark)
    context = clients.set_index("client_id")[
        ["clinic_id", "therapist_id", "gender", "age", "primary_concern"]
    ]
    labels = derive_labels(clients, sessions)[["dropout", "poor_outcome"]]
    examples = points.join(context, on="client_id").join(labels, on="client_id")
    history = HistoryBatch.from_tables(clients, sessions, points, window=max_landmark)
    return LandmarkSet(examples=examples, history=history, max_landmark=max_landmark)
