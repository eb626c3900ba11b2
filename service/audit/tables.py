"""The audit tables: one row per assessment served and one per outcome reported; for CDS
Hooks, one per card issued, one per feedback item, and the EHR token ids seen recently; one
per alert raised and one per step taken on it.

The schema itself is owned by the Alembic migrations in ``migrations/versions``; these
models describe it for queries (and for ``alembic revision --autogenerate``). Indexes serve
what reads the audit later: a client's history (``client_id``), time windows
(``created_at``) and score monitoring per model version and window
(``model_version, created_at``).
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    TypeDecorator,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from features.vocabulary import TERMINATIONS
from monitoring.records import StoredAssessment, StoredOutcome
from service.audit.records import (
    ALERT_KINDS,
    ALERT_STATES,
    AlertStep,
    StoredAlert,
    StoredCard,
    StoredFeedback,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
}
"""Constraint names fixed by convention, so that migrations can name what they alter."""

# JSONB on PostgreSQL: compact, and queryable should monitoring ever need to look inside.
_DOCUMENT = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """A point in time stored as UTC and always read back timezone-aware (UTC).

    SQLite has no time zones, so it keeps naive UTC; PostgreSQL keeps ``timestamptz``.
    Naive datetimes are refused: a local time taken for UTC would shift audit windows.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC (naive on SQLite), refusing naive input."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("audit times must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to what SQLite returns; normalise PostgreSQL's session zone to UTC."""
        del dialect  # both backends are handled by the value alone
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class AuditBase(DeclarativeBase):
    """Declarative base of the audit tables (its own metadata, apart from any other store)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class _RecordRow:
    """A row whose attributes are named as the fields of its immutable record type."""

    record_type: ClassVar[type[Any]]

    def to_record(self) -> Any:
        """The immutable record of this row."""
        return self.record_type(
            **{f.name: getattr(self, f.name) for f in fields(self.record_type)}
        )


class AssessmentRow(_RecordRow, AuditBase):
    """An assessment as sent to the record system, with the input it was computed from.

    Attributes are named as the fields of :class:`StoredAssessment` (the key column is ``id``).
    """

    record_type = StoredAssessment
    __tablename__ = "assessments"
    __table_args__ = (
        Index("ix_assessments_client_id_created_at", "client_id", "created_at"),
        Index("ix_assessments_model_version_created_at", "model_version", "created_at"),
        Index("ix_assessments_clinic_id_client_id", "clinic_id", "client_id"),
    )

    assessment_id: Mapped[str] = mapped_column("id", String(36), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    client_id: Mapped[str] = mapped_column(String)
    as_of_session: Mapped[int]
    model_name: Mapped[str] = mapped_column(String)
    model_version: Mapped[str] = mapped_column(String)
    input_sha256: Mapped[str] = mapped_column(String(64))
    request: Mapped[dict[str, Any]] = mapped_column(_DOCUMENT)
    response: Mapped[dict[str, Any]] = mapped_column(_DOCUMENT)
    clinic_id: Mapped[str] = mapped_column(String(128))
    caller: Mapped[str] = mapped_column(String)


class OutcomeRow(_RecordRow, AuditBase):
    """A record system's report of how an episode ended, named as :class:`StoredOutcome`."""

    record_type = StoredOutcome
    __tablename__ = "outcomes"
    __table_args__ = (
        CheckConstraint(
            f"termination IN ({', '.join(repr(t) for t in TERMINATIONS)})", name="termination"
        ),
        CheckConstraint(
            "(termination = 'ongoing' AND end_date IS NULL)"
            " OR (termination <> 'ongoing' AND end_date IS NOT NULL)",
            name="end_date_unless_ongoing",
        ),
        Index("ix_outcomes_client_id_created_at", "client_id", "created_at"),
        Index("ix_outcomes_clinic_id_client_id", "clinic_id", "client_id"),
    )

    outcome_id: Mapped[str] = mapped_column("id", String(36), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    client_id: Mapped[str] = mapped_column(String)
    termination: Mapped[str] = mapped_column(String(16))
    end_date: Mapped[date | None] = mapped_column(Date)
    reported_by: Mapped[str | None] = mapped_column(String)
    clinic_id: Mapped[str] = mapped_column(String(128))


class CardRow(_RecordRow, AuditBase):
    """A CDS Hooks card issued, named as :class:`StoredCard` (the key column is ``id``)."""

    record_type = StoredCard
    __tablename__ = "cds_cards"

    card_uuid: Mapped[str] = mapped_column("id", String(36), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    service_id: Mapped[str] = mapped_column(String(64))
    assessment_id: Mapped[str] = mapped_column(String(36), ForeignKey("assessments.id"))
    iss: Mapped[str] = mapped_column(String)
    indicator: Mapped[str] = mapped_column(String(16))
    clinic_id: Mapped[str] = mapped_column(String(128))
    caller: Mapped[str] = mapped_column(String)


class FeedbackRow(_RecordRow, AuditBase):
    """A feedback item on a card, named as :class:`StoredFeedback` (the key column is ``id``).

    Acceptance and override rates are read per service and window (``service_id,
    created_at``) and per model version through ``assessment_id``.
    """

    record_type = StoredFeedback
    __tablename__ = "cds_feedback"
    __table_args__ = (
        CheckConstraint("outcome IN ('accepted', 'overridden')", name="outcome"),
        Index("ix_cds_feedback_service_id_created_at", "service_id", "created_at"),
    )

    feedback_id: Mapped[str] = mapped_column("id", String(36), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    service_id: Mapped[str] = mapped_column(String(64))
    card_uuid: Mapped[str] = mapped_column(String(36), ForeignKey("cds_cards.id"), index=True)
    assessment_id: Mapped[str] = mapped_column(String(36), ForeignKey("assessments.id"))
    iss: Mapped[str] = mapped_column(String)
    outcome: Mapped[str] = mapped_column(String(16))
    outcome_timestamp: Mapped[datetime] = mapped_column(UtcDateTime)
    override_system: Mapped[str | None] = mapped_column(String)
    override_code: Mapped[str | None] = mapped_column(String)
    user_comment: Mapped[str | None] = mapped_column(String)
    clinic_id: Mapped[str] = mapped_column(String(128))


class TokenIdRow(AuditBase):
    """An EHR JWT's ``jti`` seen, kept until the token expires: the replay store.

    The key ``(iss, jti)`` makes a second use fail to insert, in every worker at once.
    """

    __tablename__ = "cds_token_ids"

    iss: Mapped[str] = mapped_column(String, primary_key=True)
    jti: Mapped[str] = mapped_column(String(256), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class SmartLaunchRow(AuditBase):
    """A SMART launch under way: its ``state``, the issuer it went to and its PKCE verifier.

    Kept in the database, not in process memory, so that a callback reaching another
    worker than its launch finds it; deleted as the callback reads it (single use).
    """

    __tablename__ = "smart_launches"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    iss: Mapped[str] = mapped_column(String)
    code_verifier: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class ApiTokenRow(AuditBase):
    """An API token (its hash only), shared by every replica on this database.

    A revoked token keeps its row (``revoked_at``), so ``token list`` shows what was revoked
    and when; the services stop accepting it at their next read of this table.
    """

    __tablename__ = "api_tokens"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(_DOCUMENT)
    clinics: Mapped[list[str]] = mapped_column(_DOCUMENT)
    all_clinics: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ReadRow(AuditBase):
    """One read of personal data: who read what of which clinic's client, and when.

    ``client_key`` is the client's id, or the tombstone's id once the client is erased, so
    "who looked at this client?" stays answerable after erasure without the client's id.
    """

    __tablename__ = "reads"
    __table_args__ = (Index("ix_reads_clinic_id_client_key", "clinic_id", "client_key"),)

    read_id: Mapped[str] = mapped_column("id", String(36), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    caller: Mapped[str] = mapped_column(String)
    what: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    clinic_id: Mapped[str | None] = mapped_column(String(128))
    client_key: Mapped[str | None] = mapped_column(String(128))


class TombstoneRow(AuditBase):
    """What is left of an erased client: who erased which clinic's client, when and why.

    No personal data: not the client's id, not its records; only the tombstone's own id,
    to which the read log's entries about the client are re-keyed.
    """

    __tablename__ = "tombstones"

    tombstone_id: Mapped[str] = mapped_column("id", String(36), primary_key=True)
    clinic_id: Mapped[str] = mapped_column(String(128))
    erased_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    erased_by: Mapped[str] = mapped_column(String)
    reason: Mapped[str] = mapped_column(String)
    rows_removed: Mapped[int]


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class AlertRow(_RecordRow, AuditBase):
    """An alert raised on an assessment, named as :class:`StoredAlert` (key column ``id``).

    Read per clinic and client (a caseload's rows) and per clinic and state (the worklist).
    """

    record_type = StoredAlert
    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(_one_of("kind", ALERT_KINDS), name="kind"),
        CheckConstraint(_one_of("state", ALERT_STATES), name="state"),
        Index("ix_alerts_clinic_id_client_id", "clinic_id", "client_id"),
        Index("ix_alerts_clinic_id_state", "clinic_id", "state"),
        # One open alert per problem (see migration 0005); NULL outcomes compare equal.
        Index(
            "uq_alerts_open_problem",
            "clinic_id",
            "client_id",
            "kind",
            text("coalesce(outcome, '')"),
            unique=True,
            sqlite_where=text("state = 'open'"),
            postgresql_where=text("state = 'open'"),
        ),
    )

    alert_id: Mapped[str] = mapped_column("id", String(36), primary_key=True)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    clinic_id: Mapped[str] = mapped_column(String(128))
    client_id: Mapped[str] = mapped_column(String)
    therapist_id: Mapped[str] = mapped_column(String(128))
    assessment_id: Mapped[str] = mapped_column(String(36), ForeignKey("assessments.id"))
    kind: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    acted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acted_by: Mapped[str | None] = mapped_column(String)
    note: Mapped[str | None] = mapped_column(String)


class AlertStepRow(_RecordRow, AuditBase):
    """One step taken on an alert, named as :class:`AlertStep` (key column ``id``)."""

    record_type = AlertStep
    __tablename__ = "alert_steps"
    __table_args__ = (CheckConstraint(_one_of("step", ALERT_STATES[1:]), name="step"),)

    step_id: Mapped[str] = mapped_column("id", String(36), primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(36), ForeignKey("alerts.id"), index=True)
    clinic_id: Mapped[str] = mapped_column(String(128))
    step: Mapped[str] = mapped_column(String(16))
    acted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    acted_by: Mapped[str] = mapped_column(String)
    note: Mapped[str | None] = mapped_column(String)
