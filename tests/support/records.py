"""Stored records for tests: a cohort scored at every landmark, as the service stores it
(request in contract columns, response with probabilities and risk levels), and the
outcomes a record system would report, as :mod:`monitoring.records` types."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from features.engineering import compute_features
from features.landmarks import build_landmarks
from features.schemas import CLIENT_COLUMNS
from features.vocabulary import OUTCOMES
from models.bundle import RiskModel
from monitoring.records import StoredAssessment, StoredOutcome
from service.audit import input_sha256

# What a request holds of the client row: everything but how the episode ended.
CLIENT_FIELDS = CLIENT_COLUMNS[: CLIENT_COLUMNS.index("termination")]
START = datetime(2026, 9, 1, tzinfo=UTC)


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
) -> list[StoredAssessment]:
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
        request = {"client": client_rows[client], "sessions": by_client[client][: int(as_of)]}
        records.append(
            StoredAssessment(
                assessment_id=str(uuid.UUID(int=row + 1)),
                created_at=start + row * spacing,
                client_id=str(client),
                as_of_session=int(as_of),
                model_name="dropout-risk",
                model_version=version,
                input_sha256=input_sha256(request),
                request=request,
                response={
                    o: {"probability": float(probability[o][row]), "risk_level": level[o][row]}
                    for o in OUTCOMES
                },
            )
        )
    return records


def reported_outcomes(clients: pd.DataFrame, *, at: datetime) -> list[StoredOutcome]:
    """The clients' terminations as the record system would report them."""
    return [
        StoredOutcome(
            outcome_id=str(uuid.uuid4()),
            created_at=at,
            client_id=str(row["client_id"]),
            termination=str(row["termination"]),
            end_date=None if pd.isna(row["end_date"]) else pd.Timestamp(row["end_date"]).date(),
            reported_by="tests",
        )
        for row in clients.to_dict("records")
    ]
