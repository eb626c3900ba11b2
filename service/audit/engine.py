"""Engines for the audit database: SQLite (WAL, fully synced) by default, PostgreSQL by URL.

SQLite notes. The ``sqlite3`` module's own transaction handling is switched off and
SQLAlchemy emits ``BEGIN`` itself (the recipe in SQLAlchemy's SQLite documentation): only
then are DDL statements transactional and can a writer take the write lock up front with
``BEGIN IMMEDIATE`` (connections carrying :data:`WRITE_OPTIONS`), which waits politely on
``busy_timeout`` instead of failing when several threads or workers write at once.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url

from service.audit.records import stored_json

SQLITE_BUSY_TIMEOUT_MS = 15_000
"""How long an SQLite writer waits for another's commit before giving up."""

POSTGRES_CONNECT_TIMEOUT_S = 5
"""Seconds to wait for a PostgreSQL connection, so that /ready answers rather than hangs."""

_BEGIN_OPTION = "audit_sqlite_begin"
WRITE_OPTIONS = {_BEGIN_OPTION: "IMMEDIATE"}
"""Execution options of connections that will write (SQLite takes the write lock at BEGIN)."""


def create_audit_engine(url: str | URL) -> Engine:
    """An engine for the audit database at ``url``, configured for durable, concurrent use.

    For a file-based SQLite URL the file's parent directory is created. The schema is not
    touched: see :func:`service.audit.migrate.upgrade_database`.

    Args:
        url: A SQLAlchemy URL, e.g. ``sqlite:///data/audit.db`` or
            ``postgresql+psycopg://user@host:5432/dbname``.

    Returns:
        The engine; nothing has connected yet.

    Raises:
        ValueError: ``url`` is an in-memory SQLite database.
        OSError: The SQLite file's directory cannot be created.
    """
    parsed = make_url(url)
    # Statement parameters carry client ids and scores: keep them out of errors and logs.
    common: dict[str, Any] = {"json_serializer": stored_json, "hide_parameters": True}
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, common=common)
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        common["connect_args"] = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
    return create_engine(parsed, pool_pre_ping=True, **common)


def _sqlite_engine(url: URL, *, common: dict[str, Any]) -> Engine:
    """An SQLite engine with WAL, full sync, a busy timeout and SQLAlchemy-driven BEGIN."""
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        # Its records would vanish with the process, breaking the audit's one promise.
        raise ValueError("the audit store needs an SQLite file, not an in-memory database")
    if not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # No pre-ping: a file database does not drop idle connections, and the ping would cost a
    # round trip before every write.
    engine = create_engine(url, **common)
    if not database.startswith("file:"):
        event.listen(engine, "do_connect", _owner_only_file(Path(database)))
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _owner_only_file(path: Path) -> Any:
    """A hook creating the database file owner-only (0600) just before SQLite opens it.

    SQLite would create it 0644 (with the umask), and its -wal and -shm files take the
    database file's mode; the store holds personal data. An existing file is left as it is;
    a file that cannot be created is left to SQLite to report.
    """

    def _create(*_args: Any) -> None:
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))

    return _create


def _configure_sqlite_connection(dbapi_connection: Any, _connection_record: Any) -> None:
    """Per-connection SQLite settings (none of them but the journal mode outlives it)."""
    # SQLAlchemy's "begin" hook emits BEGIN; sqlite3 must not emit its own as well.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # The timeout first: switching to WAL needs a lock another connection may hold.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk (WAL fsynced) before it returns, so before we answer.
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    """Emit BEGIN, IMMEDIATE for connections that are about to write."""
    mode = connection.get_execution_options().get(_BEGIN_OPTION, "")
    connection.exec_driver_sql(f"BEGIN {mode}".strip())
