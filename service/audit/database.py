"""The audit database as the stores share it: one engine, short sessions, one writer at a time.

Every store of the audit database (assessments and outcomes, CDS Hooks cards and feedback,
EHR token ids) is built on one :class:`AuditDatabase`. It owns the engine and the sessions,
turns every database failure into :class:`~service.audit.records.AuditUnavailableError`
(naming what failed, never a statement's parameters), and on SQLite makes the threads of a
process take turns to write.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, Insert, Select, inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from service.audit.engine import WRITE_OPTIONS
from service.audit.records import unavailable

#: Rows fetched at a time when a read is iterated, so exports stay in bounded memory.
STREAM_BATCH = 500


class AuditDatabase:
    """Sessions on one audit database, shared by its stores and their threads."""

    def __init__(self, engine: Engine) -> None:
        """Use ``engine``, an engine of :func:`service.audit.engine.create_audit_engine`."""
        self._engine = engine
        self._reading = sessionmaker(engine, expire_on_commit=False)
        self._write_engine = engine.execution_options(**WRITE_OPTIONS)
        self._writing = sessionmaker(self._write_engine, expire_on_commit=False)
        # SQLite has one writer at a time and makes others sleep in growing steps; taking
        # turns here, within the process, is much faster under concurrent requests.
        self._write_turn = (
            threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )

    @property
    def engine(self) -> Engine:
        """The engine (for migrations and health checks)."""
        return self._engine

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def ping(self) -> bool:
        """Whether the database answers a trivial query now (for the readiness probe)."""
        try:
            with self._engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    @contextlib.contextmanager
    def writing(self, what: str) -> Iterator[Session]:
        """A session in one write transaction, committed when the block ends without error.

        Args:
            what: What is being written, for the error ("commit the assessment").

        Raises:
            AuditUnavailableError: The transaction did not commit (its cause is chained).
        """
        try:
            with self._write_turn, self._writing() as session, session.begin():
                yield session
        except SQLAlchemyError as error:
            raise unavailable(what, error) from error

    @contextlib.contextmanager
    def writing_rows(self, what: str) -> Iterator[Connection]:
        """As :meth:`writing`, on a Core connection instead of an ORM session.

        For statements that need no ORM (inserts of rows, selects of columns) on the hot
        path: an assessment's commit spent about 0.1 ms in the session's bookkeeping
        (docs/speed.md), more than its row.

        Raises:
            AuditUnavailableError: The transaction did not commit (its cause is chained).
        """
        try:
            with self._write_turn, self._write_engine.begin() as connection:
                yield connection
        except SQLAlchemyError as error:
            raise unavailable(what, error) from error

    @contextlib.contextmanager
    def reading(self, what: str) -> Iterator[Session]:
        """A session for reads.

        Raises:
            AuditUnavailableError: The database could not be read.
        """
        try:
            with self._reading() as session:
                yield session
        except SQLAlchemyError as error:
            raise unavailable(what, error) from error

    def insert(self, table: type[Any], rows: list[dict[str, Any]], *, what: str) -> None:
        """Insert ``rows`` in one transaction; return only once it has committed."""
        with self.writing(f"commit {what}") as session:
            insert_rows(session, table, rows)

    def stream(self, query: Select[Any], *, what: str) -> Iterator[Any]:
        """The records of ``query``'s rows (``to_record()``), fetched batch by batch."""
        with self.reading(f"read {what}") as session:
            for row in session.scalars(query.execution_options(yield_per=STREAM_BATCH)):
                yield row.to_record()


def insert_rows(
    transaction: Session | Connection, table: type[Any], rows: list[dict[str, Any]]
) -> None:
    """INSERT ``rows`` (values by attribute name) into ``table``'s table in the session's or
    connection's transaction: one executemany of a cached Core statement.

    Not the ORM's bulk insert, whose per-call bookkeeping costs more than the rows of a
    request; the column types (UTC timestamps, JSON) apply the same either way.
    """
    connection = transaction if isinstance(transaction, Connection) else transaction.connection()
    connection.execute(_insert_into(table), column_rows(table, rows))


@functools.cache
def _insert_into(table: type[Any]) -> Insert:
    """``table``'s INSERT, built once: a new construct per call costs its cache key again
    (about 20-50 us of a one-row insert), and a statement is immutable, so threads share it."""
    return table.__table__.insert()


def column_rows(table: type[Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` keyed by ``table``'s column names instead of its attribute names (a Core
    statement's parameters: ``alert_id`` is the column ``id``)."""
    columns = _column_of_attribute(table)
    return [{columns[name]: value for name, value in row.items()} for row in rows]


@functools.cache
def _column_of_attribute(table: type[Any]) -> dict[str, str]:
    """The column name of each mapped attribute of ``table`` (``assessment_id`` is ``id``)."""
    return {prop.key: prop.columns[0].key for prop in inspect(table).column_attrs}
