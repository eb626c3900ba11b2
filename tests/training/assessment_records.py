"""Audit-style records for monitoring tests: a cohort scored at every landmark, as the service
stores it (request in contract columns, response with probabilities and risk levels)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from features.engineering import OUTCOMES, compute_features
from features.landmarks import build_landmarks
from features.schemas import CLIENT_COLUMNS
from models.bundle import RiskModel

# What a request holds of the client row: everything but how the episode ended.
CLIENT_FIELDS = CLIENT_COLUMNS[: CLIENT_COLUMNS.index("termination")]
START = datetime(2026, 9, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Assessment:
    created_at: datetime
    client_id: str
    as_of_session: int
    model_version: str
    request: dict[str, Any]
    response: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    created_at: datetime
    client_id: str
    termination: str
    end_date: date | None


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp | date):
        return value.isoformat()[:10]
    if isinstance(value, np.generic):
        return value.item()
    return value


def scored_records(
    clients: pd.DataFrame,
    sessions: pd.DataFrame,
    model: RiskModel,
    *,
    version: str = "1",
    start: datetime = START,
    spacing: timedelta = timedelta(minutes=1),
) -> list[Assessment]:
    """Every landmark of every client, scored by ``model``, stored ``spacing`` apart."""
    landmarks = build_landmarks(clients, sessions, max_landmark=model.max_landmark)
    features = compute_features(landmarks.history)
    probability = {o: model.outcome_model(o).probability(features) for o in OUTCOMES}
    level = {o: model.outcome_model(o).thresholds.level(probability[o]) for o in OUTCOMES}
    client_rows = {
        row["client_id"]: {name: _plain(row[name]) for name in CLIENT_FIELDS}
        for row in clients.to_dict("records")
    }
    by_client = {
        client: [{k: _plain(v) for k, v in row.items() if k != "client_id"} for row in rows]
        for client, rows in (
            (c, group.sort_values("session_number").to_dict("records"))
            for c, group in sessions.groupby("client_id", sort=False)
        )
    }
    records = []
    examples = landmarks.examples[["client_id", "as_of_session"]].to_numpy()
    for row, (client, as_of) in enumerate(examples):
        records.append(
            Assessment(
                created_at=start + row * spacing,
                client_id=str(client),
                as_of_session=int(as_of),
                model_version=version,
                request={
                    "client": client_rows[client],
                    "sessions": by_client[client][: int(as_of)],
                },
                response={
                    o: {"probability": float(probability[o][row]), "risk_level": level[o][row]}
                    for o in OUTCOMES
                },
            )
        )
    return records


def reported_outcomes(clients: pd.DataFrame, *, at: datetime) -> list[Outcome]:
    """The clients' terminations as the record system would report them."""
    return [
        Outcome(
            created_at=at,
            client_id=str(row["client_id"]),
            termination=str(row["termination"]),
            end_date=None if pd.isna(row["end_date"]) else pd.Timestamp(row["end_date"]).date(),
        )
        for row in clients.to_dict("records")
    ]
