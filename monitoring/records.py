"""What the service stores, as monitoring and export read it: one record type per stored thing.

The audit store (:mod:`service.audit`) writes and returns these records; monitoring, the
export for retraining and their tests read them. They are defined here, below the service,
so that the loop after deployment needs nothing of the service to read its records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class StoredAssessment:
    """One committed assessment: who was scored, by which model, on what input, with what result.

    Attributes:
        assessment_id: The UUID (as text) returned to the caller.
        created_at: When the record was written, timezone-aware UTC.
        client_id: The client the assessment is about.
        as_of_session: The last session the score took into account.
        model_name: Registered name of the model that scored.
        model_version: Registered version of that model.
        input_sha256: Hex SHA-256 of the request's canonical JSON (sorted keys, no spaces).
        request: The request body as JSON.
        response: The response body as JSON.
        clinic_id: The clinic that owns the record (the request's ``client.clinic_id``).
        caller: Who asked for it: an API token's name, or an EHR's issuer and tenant.
    """

    assessment_id: str
    created_at: datetime
    client_id: str
    as_of_session: int
    model_name: str
    model_version: str
    input_sha256: str
    request: dict[str, Any]
    response: dict[str, Any]
    clinic_id: str = ""
    caller: str = "unknown"


@dataclass(frozen=True)
class StoredOutcome:
    """One committed report of how a client's episode ended.

    Attributes:
        outcome_id: The UUID (as text) of this report.
        created_at: When the report was written, timezone-aware UTC.
        client_id: The client whose episode it is.
        termination: One of :data:`features.vocabulary.TERMINATIONS`.
        end_date: Last day of the episode; None exactly when ``termination`` is ``ongoing``.
        reported_by: Name of the API token that reported it, None when unknown.
        clinic_id: The clinic of the episode: outcomes are keyed by (clinic, client).
    """

    outcome_id: str
    created_at: datetime
    client_id: str
    termination: str
    end_date: date | None
    reported_by: str | None
    clinic_id: str = ""
