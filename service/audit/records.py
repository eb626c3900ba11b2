"""What the audit store hands back: plain, immutable records, and the one error it raises.

Callers never see ORM objects: a :class:`StoredAssessment` or :class:`StoredOutcome` is a
snapshot of a committed row, safe to pass between threads and to serialise.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

TERMINATIONS = ("completed", "dropout", "referred", "ongoing")
"""How an episode can end, as in the data contract; ``ongoing`` episodes have no end date."""


class AuditUnavailableError(Exception):
    """The audit database could not be reached or did not commit; nothing was acknowledged.

    The service answers 503: a score must not be sent when its audit record is not durable.
    """


@dataclass(frozen=True)
class NewAssessment:
    """An assessment to store (see :meth:`service.audit.AuditStore.record_assessments`).

    Attributes:
        assessment_id: The assessment's UUID, as returned to the caller.
        client_id: The client scored.
        as_of_session: The last session the score took into account.
        model_name: Registered name of the scoring model.
        model_version: Registered version of the scoring model.
        request: The request body, JSON-compatible.
        response: The response body, JSON-compatible.
    """

    assessment_id: str
    client_id: str
    as_of_session: int
    model_name: str
    model_version: str
    request: dict[str, Any]
    response: dict[str, Any]


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
        input_sha256: Hex SHA-256 of the request's canonical JSON (see :func:`canonical_json`).
        request: The request body as JSON.
        response: The response body as JSON.
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


@dataclass(frozen=True)
class StoredOutcome:
    """One committed report of how a client's episode ended.

    Attributes:
        outcome_id: The UUID (as text) of this report.
        created_at: When the report was written, timezone-aware UTC.
        client_id: The client whose episode it is.
        termination: One of :data:`TERMINATIONS`.
        end_date: Last day of the episode; None exactly when ``termination`` is ``ongoing``.
        reported_by: Name of the API token that reported it, None when unknown.
    """

    outcome_id: str
    created_at: datetime
    client_id: str
    termination: str
    end_date: date | None
    reported_by: str | None


def canonical_json(document: Any) -> str:
    """The one text of a JSON document: sorted keys, no spaces, UTF-8 kept as is.

    Two requests that differ only in key order or whitespace get the same text, hence the
    same :func:`input_sha256`.

    Args:
        document: A JSON-compatible value (dicts, lists, strings, numbers, booleans, None).

    Returns:
        The canonical JSON text.

    Raises:
        ValueError: The document holds a non-finite number or a value JSON cannot represent
            (PostgreSQL would refuse the former, so SQLite must not accept it either).
    """
    try:
        return json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except TypeError as error:
        raise ValueError(f"not a JSON document: {error}") from error


def input_sha256(request: Any) -> str:
    """Hex SHA-256 of the UTF-8 bytes of the request's :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(request).encode("utf-8")).hexdigest()
