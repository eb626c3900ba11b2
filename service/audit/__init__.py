"""The audit store: every assessment and reported outcome, committed before it is acknowledged.

Open one :class:`AuditStore` per process with :meth:`AuditStore.open` (it migrates the
database to the packaged schema) and share it between threads.
"""

from monitoring.records import StoredAssessment, StoredOutcome
from service.audit.migrate import database_revision, head_revision, upgrade_database
from service.audit.records import (
    ALERT_KINDS,
    ALERT_STATES,
    CARD_OUTCOMES,
    AlertStep,
    AuditUnavailableError,
    NewAlert,
    NewAssessment,
    NewFeedback,
    ScorePoint,
    StoredAlert,
    StoredCard,
    StoredFeedback,
    UnknownCardError,
    canonical_json,
    input_sha256,
)
from service.audit.store import DEFAULT_AUDIT_URL, AuditStore

__all__ = [
    "ALERT_KINDS",
    "ALERT_STATES",
    "CARD_OUTCOMES",
    "DEFAULT_AUDIT_URL",
    "AuditStore",
    "AlertStep",
    "AuditUnavailableError",
    "NewAlert",
    "NewAssessment",
    "NewFeedback",
    "ScorePoint",
    "StoredAssessment",
    "StoredAlert",
    "StoredCard",
    "StoredFeedback",
    "StoredOutcome",
    "UnknownCardError",
    "canonical_json",
    "database_revision",
    "head_revision",
    "input_sha256",
    "upgrade_database",
]
