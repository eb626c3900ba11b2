"""What the audit store hands back: plain, immutable records, and the errors it raises.

Callers never see ORM objects: a :class:`StoredAssessment`, :class:`StoredOutcome`,
:class:`StoredCard` or :class:`StoredFeedback` is a snapshot of a committed row, safe to
pass between threads and to serialise.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

CARD_OUTCOMES = ("accepted", "overridden")
"""What a clinician did with a CDS Hooks card (CDS Hooks 2.0 feedback)."""
ALERT_KINDS = (
    "safety",
    "high_risk",
    "alliance_rupture",
    "reliable_deterioration",
    "missed_appointments",
)
"""What an alert is about, most urgent first (see :mod:`service.alerts.raising`)."""
ALERT_STATES = ("open", "acknowledged", "resolved", "dismissed")
"""Where an alert is in its life: ``open`` until someone acts; the last two are final."""
ACTIVE_ALERT_STATES = ("open", "acknowledged")
#: The states of an alert that keep another of its kind from being raised for the client:
#: any active one, except for safety, where only an open alert does. A new endorsement of
#: self-harm after someone acknowledged the last one is new information, and is raised.
COVERING_STATES = {"safety": ("open",)}
"""States in which an alert still asks for a response (and blocks a duplicate)."""


class AuditUnavailableError(Exception):
    """The audit database could not be reached or did not commit; nothing was acknowledged.

    The service answers 503: a score must not be sent when its audit record is not durable.
    """


class UnknownCardError(ValueError):
    """Feedback names cards this store never issued to that EHR for that service.

    Attributes:
        positions: Indexes, in the feedback given, of the items naming unknown cards.
    """

    def __init__(self, positions: list[int]) -> None:
        super().__init__(f"unknown card(s) at feedback position(s) {positions}")
        self.positions = positions


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
        caller: Who asked for it (a token's name, or an EHR's issuer and tenant).
        response_json: ``response``'s JSON text when the caller has it already (the
            service: its response model's JSON, the text it sends), stored as is instead of
            serialising ``response`` again, so it must be that document's JSON (the
            returned record holds ``response``); None: stored as its canonical JSON.
    """

    assessment_id: str
    client_id: str
    as_of_session: int
    model_name: str
    model_version: str
    request: dict[str, Any]
    response: dict[str, Any]
    caller: str = "unknown"
    response_json: str | None = None


@dataclass(frozen=True)
class StoredCard:
    """One CDS Hooks card sent to a record system, and the assessment it showed.

    Attributes:
        card_uuid: The card's ``uuid``, which feedback names.
        created_at: When the card was issued, timezone-aware UTC.
        service_id: The CDS service that issued it.
        assessment_id: The assessment the card shows.
        iss: The EHR (JWT issuer) it was sent to.
        indicator: ``info``, ``warning`` or ``critical``.
        clinic_id: The clinic of the assessment shown.
        caller: The EHR as issuer and tenant.
    """

    card_uuid: str
    created_at: datetime
    service_id: str
    assessment_id: str
    iss: str
    indicator: str
    clinic_id: str = ""
    caller: str = "unknown"


@dataclass(frozen=True)
class NewFeedback:
    """A clinician's response to a card, as the EHR reported it (CDS Hooks 2.0 feedback).

    Attributes:
        card_uuid: The card's ``uuid``.
        outcome: One of :data:`CARD_OUTCOMES`.
        outcome_timestamp: When the clinician acted, timezone-aware.
        override_system: Code system of the override reason given, if any.
        override_code: The override reason's code, if any.
        user_comment: What the clinician wrote (may hold personal data: audit store only).
    """

    card_uuid: str
    outcome: str
    outcome_timestamp: datetime
    override_system: str | None = None
    override_code: str | None = None
    user_comment: str | None = None


@dataclass(frozen=True)
class StoredFeedback:
    """One committed feedback item, with the assessment its card showed.

    Attributes:
        feedback_id: The UUID (as text) of this item.
        created_at: When it was stored, timezone-aware UTC.
        service_id: The CDS service whose card it is about.
        card_uuid: The card's ``uuid``.
        assessment_id: The assessment the card showed.
        iss: The EHR that reported it.
        outcome: One of :data:`CARD_OUTCOMES`.
        outcome_timestamp: When the clinician acted, timezone-aware UTC.
        override_system: Code system of the override reason, if any.
        override_code: The override reason's code, if any.
        user_comment: What the clinician wrote, if anything.
    """

    feedback_id: str
    created_at: datetime
    service_id: str
    card_uuid: str
    assessment_id: str
    iss: str
    outcome: str
    outcome_timestamp: datetime
    override_system: str | None
    override_code: str | None
    user_comment: str | None
    clinic_id: str = ""


@dataclass(frozen=True)
class NewAlert:
    """An alert to raise on a recorded assessment (see :class:`service.audit.alerts.AlertStore`).

    Attributes:
        clinic_id: The client's clinic.
        client_id: The client it is about.
        therapist_id: The client's therapist as of the assessment.
        assessment_id: The assessment that raised it.
        kind: One of :data:`ALERT_KINDS`.
        outcome: For ``high_risk``, the outcome at high risk (``dropout``, ``poor_outcome``).
    """

    clinic_id: str
    client_id: str
    therapist_id: str
    assessment_id: str
    kind: str
    outcome: str | None = None


@dataclass(frozen=True)
class StoredAlert:
    """An alert as stored, with its latest step (``acted_*`` and ``note``: None until then).

    Attributes:
        alert_id: The alert's UUID.
        raised_at: When it was raised, timezone-aware UTC.
        clinic_id: The client's clinic.
        client_id: The client it is about.
        therapist_id: The client's therapist when it was raised.
        assessment_id: The assessment that raised it.
        kind: One of :data:`ALERT_KINDS`.
        outcome: For ``high_risk``, the outcome at high risk.
        state: One of :data:`ALERT_STATES`.
        acted_at: When the latest step was taken.
        acted_by: Who took it (a token's name, or the practitioner a signed link names).
        note: The latest step's note (a dismissal's reason).
    """

    alert_id: str
    raised_at: datetime
    clinic_id: str
    client_id: str
    therapist_id: str
    assessment_id: str
    kind: str
    outcome: str | None
    state: str
    acted_at: datetime | None = None
    acted_by: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class ScorePoint:
    """A stored assessment as a trend needs it: whose, when, and both probabilities.

    The database reads the probabilities out of the stored answer, so that listing a
    clinic's open episodes does not decode every 5 KB document
    (``AuditStore.open_episode_points``).

    Attributes:
        assessment_id: The assessment's UUID.
        clinic_id: The client's clinic.
        client_id: The client.
        created_at: When it was recorded, timezone-aware UTC.
        as_of_session: The session it was made as of.
        dropout: The dropout probability it gave.
        poor_outcome: The poor-outcome probability it gave.
    """

    assessment_id: str
    clinic_id: str
    client_id: str
    created_at: datetime
    as_of_session: int
    dropout: float
    poor_outcome: float


@dataclass(frozen=True)
class AlertStep:
    """One step taken on an alert: to which state, by whom, when, with what note."""

    step_id: str
    alert_id: str
    clinic_id: str
    step: str
    acted_at: datetime
    acted_by: str
    note: str | None


class JsonText(str):
    """A document's JSON text, already serialised (a response by the pydantic model that
    built it, the text that is sent).

    Handed to a JSON column in place of the document, it is stored as is, not serialised
    again by the database driver.
    """


class CanonicalText(JsonText):
    """A document's :func:`canonical_json` text, already computed: the text an assessment's
    request was checked and hashed by is the text written.
    """


def stored_json(document: Any) -> str:
    """The audit engine's JSON serialiser: a :class:`JsonText` as is, any other document as
    its :func:`canonical_json`.

    Raises:
        ValueError: As :func:`canonical_json`.
    """
    if isinstance(document, JsonText):
        return document
    return canonical_json(document)


def canonical_json(document: Any) -> str:
    """The one text of a JSON document: sorted keys, no spaces, UTF-8 kept as is.

    Two requests that differ only in key order or whitespace get the same text, hence the
    same :func:`input_sha256`. The audit engine serialises documents with it (through
    :func:`stored_json`), and a :class:`CanonicalText` comes back unchanged.

    Args:
        document: A JSON-compatible value (dicts, lists, strings, numbers, booleans, None),
            or its :class:`CanonicalText`.

    Returns:
        The canonical JSON text.

    Raises:
        ValueError: The document holds a non-finite number or a value JSON cannot represent
            (PostgreSQL would refuse the former, so SQLite must not accept it either).
    """
    if isinstance(document, CanonicalText):
        return document
    try:
        return json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except TypeError as error:
        raise ValueError(f"not a JSON document: {error}") from error


def input_sha256(request: Any) -> str:
    """Hex SHA-256 of the UTF-8 bytes of the request's :func:`canonical_json` (or of its
    :class:`CanonicalText`)."""
    return hashlib.sha256(canonical_json(request).encode("utf-8")).hexdigest()


def uuid_text(value: str, *, what: str = "assessment_id") -> str:
    """``value`` as a canonical lower-case UUID, so that lookups by id cannot miss on case.

    Raises:
        ValueError: ``value`` is not a UUID (the message names it as ``what``).
    """
    try:
        return str(uuid.UUID(value))
    except (TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"{what} must be a UUID, got {value!r}") from error


def record_values(record: Any) -> dict[str, Any]:
    """A stored record's fields by name, which are its table row's attribute names.

    Shallow: the request and response bodies are not copied.
    """
    return {field.name: getattr(record, field.name) for field in dataclasses.fields(record)}


def unavailable(action: str, error: Exception) -> AuditUnavailableError:
    """An :class:`AuditUnavailableError` naming what failed, without statement parameters."""
    # The driver's own message, for the log only (routes answer a fixed text); first line
    # only: PostgreSQL's DETAIL lines may quote values.
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    summary = f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__
    return AuditUnavailableError(f"audit store could not {action}: {summary}")
