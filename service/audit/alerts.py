"""Alerts in the audit database: raised once per problem, moved on step by step, by someone.

An alert is not raised again for a client while one of the same kind (and, for high risk,
the same outcome) still asks for a response (``open`` or ``acknowledged``): a clinician who
has been told once is not told again at every session. Every step is a row of its own, so
who acknowledged, resolved or dismissed an alert, when and why, is kept after later steps.
Reads and steps are filtered by the caller's clinics: another clinic's alert is not found.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from service.audit.database import AuditDatabase, column_rows
from service.audit.records import (
    ACTIVE_ALERT_STATES,
    COVERING_STATES,
    AlertStep,
    NewAlert,
    StoredAlert,
    record_values,
)
from service.audit.tables import AlertRow, AlertStepRow

#: The steps each state allows; ``resolved`` and ``dismissed`` are final.
NEXT_STATES = {
    "open": ("acknowledged", "resolved", "dismissed"),
    "acknowledged": ("resolved", "dismissed"),
    "resolved": (),
    "dismissed": (),
}


class AlertStateError(ValueError):
    """The step is not allowed from the alert's state (e.g. acknowledging a resolved one).

    Attributes:
        state: The alert's state, which the step did not change.
    """

    def __init__(self, state: str, step: str) -> None:
        super().__init__(f"an alert that is {state} cannot be {step}")
        self.state = state


class NoteRequiredError(ValueError):
    """The step needs a note: closing a safety alert says what was done about it."""


class AlertStore:
    """Alerts and their steps (:attr:`AuditStore.alerts`)."""

    def __init__(self, database: AuditDatabase) -> None:
        self._database = database

    def raise_alerts(self, alerts: Sequence[NewAlert]) -> list[StoredAlert]:
        """Store the alerts that no active alert of the same client and kind already covers.

        Returns:
            The alerts raised now (the others were already being attended to).

        Raises:
            AuditUnavailableError: Nothing was committed.
        """
        if not alerts:
            return []
        with self._database.writing_rows("raise the alerts") as connection:
            return raise_in(connection, alerts)

    def alerts(
        self,
        *,
        clinics: frozenset[str] | None,
        states: Iterable[str] | None = None,
        client_ids: Iterable[str] | None = None,
    ) -> list[StoredAlert]:
        """The clinics' alerts (None: every clinic), oldest first, optionally narrowed.

        Raises:
            AuditUnavailableError: The database could not be read.
        """
        query = select(AlertRow).order_by(AlertRow.raised_at, AlertRow.alert_id)
        if clinics is not None:
            query = query.where(AlertRow.clinic_id.in_(sorted(clinics)))
        if states is not None:
            query = query.where(AlertRow.state.in_(sorted(states)))
        if client_ids is not None:
            query = query.where(AlertRow.client_id.in_(sorted(client_ids)))
        with self._database.reading("read the alerts") as session:
            return [row.to_record() for row in session.scalars(query)]

    def alert(self, alert_id: str, *, clinics: frozenset[str] | None) -> StoredAlert | None:
        """The alert with this id; None when there is none or it is another clinic's."""
        with self._database.reading("read the alert") as session:
            row = session.get(AlertRow, _key(alert_id))
            if row is None or (clinics is not None and row.clinic_id not in clinics):
                return None  # another clinic's alert is not revealed to exist
            return row.to_record()

    def steps(self, alert_id: str) -> list[AlertStep]:
        """Every step taken on the alert, oldest first."""
        query = (
            select(AlertStepRow)
            .where(AlertStepRow.alert_id == _key(alert_id))
            .order_by(AlertStepRow.acted_at, AlertStepRow.step_id)
        )
        with self._database.reading("read the alert's steps") as session:
            return [row.to_record() for row in session.scalars(query)]

    def act(
        self,
        alert_id: str,
        *,
        step: str,
        actor: str,
        note: str | None,
        clinics: frozenset[str] | None,
    ) -> StoredAlert | None:
        """Move the alert on to ``step`` (a state), by ``actor``, with ``note``; record the step.

        Returns:
            The alert as it is now; None when there is none or it is another clinic's.

        Raises:
            AlertStateError: ``step`` is not allowed from the alert's state.
            NoteRequiredError: ``step`` resolves a safety alert without a note.
            AuditUnavailableError: Nothing was committed.
        """
        key = _key(alert_id)
        acted_at = datetime.now(UTC)
        with self._database.writing("record the step on the alert") as session:
            row = session.get(AlertRow, key, with_for_update=True)
            if row is None or (clinics is not None and row.clinic_id not in clinics):
                return None
            if step not in NEXT_STATES[row.state]:
                raise AlertStateError(row.state, step)
            if row.kind == "safety" and step == "resolved" and not (note or "").strip():
                raise NoteRequiredError("resolving a safety alert needs a note of what was done")
            session.execute(
                update(AlertRow)
                .where(AlertRow.alert_id == key)
                .values(state=step, acted_at=acted_at, acted_by=actor, note=note)
            )
            step_row = AlertStep(
                step_id=str(uuid.uuid4()),
                alert_id=key,
                clinic_id=row.clinic_id,
                step=step,
                acted_at=acted_at,
                acted_by=actor,
                note=note,
            )
            session.execute(insert(AlertStepRow), [record_values(step_row)])
            session.refresh(row)
            return row.to_record()


@functools.cache
def _insert_new(dialect: str) -> Any:
    """An INSERT of alerts in ``dialect`` (both have ON CONFLICT DO NOTHING) returning the
    ids it inserted, built once; its rows are keyed by column (:func:`column_rows`)."""
    table = AlertRow.__table__
    insert_in = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return insert_in(table).on_conflict_do_nothing().returning(table.c.id)


def _key(alert_id: str) -> str:
    """The alert id as stored; an id that is not a UUID names no alert."""
    try:
        return str(uuid.UUID(alert_id))
    except (TypeError, ValueError, AttributeError):
        return "not-an-alert"


@functools.cache
def _alerts_of_clients() -> Select[Any]:
    """Every alert, active or not, of the clients bound as ``client_ids`` in the clinics
    bound as ``clinic_ids``: built once, because every scored batch that may raise an alert
    reads them.

    Narrowed by clinic and client only, so that the (clinic_id, client_id) index finds them:
    with the state in the query too, or without the clinic, SQLite scanned the whole table
    (12 ms a batch at 100,000 alerts; bench/bench_alert_read.py). A client's alerts are
    few; which of them are active is decided by the caller.
    """
    return (
        select(
            AlertRow.clinic_id, AlertRow.client_id, AlertRow.kind, AlertRow.outcome, AlertRow.state
        )
        .where(AlertRow.clinic_id.in_(bindparam("clinic_ids", expanding=True)))
        .where(AlertRow.client_id.in_(bindparam("client_ids", expanding=True)))
    )


def raise_in(connection: Connection, alerts: Sequence[NewAlert]) -> list[StoredAlert]:
    """:meth:`AlertStore.raise_alerts` inside the caller's write transaction (the
    assessments that raise them are committed in the same one)."""
    if not alerts:
        return []
    raised_at = datetime.now(UTC)
    active = {
        (row.clinic_id, row.client_id, row.kind, row.outcome)
        for row in connection.execute(
            _alerts_of_clients(),
            {
                "clinic_ids": sorted({a.clinic_id for a in alerts}),
                "client_ids": sorted({a.client_id for a in alerts}),
            },
        )
        if row.state in COVERING_STATES.get(row.kind, ACTIVE_ALERT_STATES)
    }
    raised = []
    for new in alerts:
        key = (new.clinic_id, new.client_id, new.kind, new.outcome)
        if key in active:
            continue
        active.add(key)  # one alert per problem even within one batch
        raised.append(
            StoredAlert(alert_id=str(uuid.uuid4()), raised_at=raised_at, state="open", **vars(new))
        )
    if raised:
        rows = column_rows(AlertRow, [record_values(alert) for alert in raised])
        # Another replica may have raised the same problem since the read above:
        # the unique index refuses the second, which is then not reported as raised.
        insert = _insert_new(connection.dialect.name)
        inserted = {alert_id for (alert_id,) in connection.execute(insert, rows)}
        raised = [alert for alert in raised if alert.alert_id in inserted]
    return raised
