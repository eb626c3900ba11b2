"""Erasure and retention: removing a client's personal data, keeping only a tombstone.

Every table that holds personal data is listed in :data:`PERSONAL_TABLES` (the docs list
the same); erasure deletes the client's rows from each, in one transaction, and re-keys
the read log's entries about the client to the tombstone's id, so who looked and when stays
answerable without the client's id. Retention does the same for every client whose newest
record is older than the retention period.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from service.audit.database import AuditDatabase
from service.audit.tables import (
    AlertRow,
    AlertStepRow,
    AssessmentRow,
    CardRow,
    FeedbackRow,
    OutcomeRow,
    ReadRow,
    TombstoneRow,
)

PERSONAL_TABLES = (
    "alert_steps",
    "alerts",
    "cds_feedback",
    "cds_cards",
    "assessments",
    "outcomes",
)
"""The tables erasure deletes from (steps, alerts, feedback and cards first: they refer to
assessments);
``reads`` is re-keyed to the tombstone, ``tombstones`` gains one row."""


@dataclass(frozen=True)
class Tombstone:
    """What erasure leaves: no personal data."""

    tombstone_id: str
    clinic_id: str
    erased_at: datetime
    erased_by: str
    reason: str
    rows_removed: int


class Eraser:
    """Erasure and retention on the audit database (:attr:`AuditStore.eraser`)."""

    def __init__(self, database: AuditDatabase) -> None:
        self._database = database

    def erase(self, *, clinic_id: str, client_id: str, erased_by: str, reason: str) -> Tombstone:
        """Remove one clinic's client from every table; return its tombstone.

        Raises:
            LookupError: Nothing of this client is stored in this clinic.
            AuditUnavailableError: Nothing was changed.
        """
        with self._database.writing("erase the client") as session:
            stone = _erase(session, clinic_id, client_id, erased_by=erased_by, reason=reason)
        if stone is None:
            raise LookupError(f"no record of client {client_id!r} in clinic {clinic_id!r}")
        return stone

    def purge_older_than(
        self, cutoff: datetime, *, erased_by: str = "retention"
    ) -> list[Tombstone]:
        """Erase every client whose newest assessment or outcome is older than ``cutoff``."""
        newest = {}
        with self._database.reading("read the clients' newest records") as session:
            for table in (AssessmentRow, OutcomeRow):
                query = select(table.clinic_id, table.client_id, func.max(table.created_at))
                for clinic, client, at in session.execute(
                    query.group_by(table.clinic_id, table.client_id)
                ):
                    key = (clinic, client)
                    newest[key] = max(at, newest.get(key, at))
        stones = []
        for (clinic, client), at in sorted(newest.items()):
            if at >= cutoff:
                continue
            with self._database.writing("purge an old client") as session:
                stone = _erase(session, clinic, client, erased_by=erased_by, reason="retention")
            if stone is not None:
                stones.append(stone)
        return stones


def _erase(
    session: Session, clinic_id: str, client_id: str, *, erased_by: str, reason: str
) -> Tombstone | None:
    """Delete the client's rows in ``session``'s transaction; None when there were none."""
    ids = select(AssessmentRow.assessment_id).where(
        AssessmentRow.clinic_id == clinic_id, AssessmentRow.client_id == client_id
    )
    alerts = select(AlertRow.alert_id).where(
        AlertRow.clinic_id == clinic_id, AlertRow.client_id == client_id
    )
    removed = session.execute(
        delete(AlertStepRow).where(AlertStepRow.alert_id.in_(alerts))
    ).rowcount
    removed += session.execute(delete(AlertRow).where(AlertRow.alert_id.in_(alerts))).rowcount
    for table in (FeedbackRow, CardRow):
        removed += session.execute(delete(table).where(table.assessment_id.in_(ids))).rowcount
    for table in (AssessmentRow, OutcomeRow):
        removed += session.execute(
            delete(table).where(table.clinic_id == clinic_id, table.client_id == client_id)
        ).rowcount
    if removed == 0:
        return None
    stone = Tombstone(
        tombstone_id=str(uuid.uuid4()),
        clinic_id=clinic_id,
        erased_at=datetime.now(UTC),
        erased_by=erased_by,
        reason=reason,
        rows_removed=removed,
    )
    session.execute(insert(TombstoneRow), [vars(stone)])
    session.execute(
        update(ReadRow)
        .where(ReadRow.clinic_id == clinic_id, ReadRow.client_key == client_id)
        .values(client_key=stone.tombstone_id)
    )
    return stone
