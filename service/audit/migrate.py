"""Bring an audit database to the schema this code expects, with the packaged migrations.

Alembic runs programmatically: its environment ships in ``migrations/`` beside this module,
so no ``alembic.ini`` is needed. Every upgrade runs in one transaction that first takes a
lock (an advisory lock on PostgreSQL, the write lock on SQLite), so that several service
workers starting at once migrate one after another instead of racing to create tables.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from service.audit.engine import WRITE_OPTIONS, create_audit_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Any fixed 64-bit number: the key of the advisory lock serialising migrations.
_MIGRATION_LOCK_KEY = 0x6175646974


def upgrade_database(target: str | Engine, *, revision: str = "head") -> None:
    """Migrate an empty or older audit database up to ``revision``; a no-op when already there.

    Args:
        target: The database URL, or an engine from
            :func:`service.audit.engine.create_audit_engine` (reused, not disposed).
        revision: The Alembic revision to reach.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: The database is unreachable or refused a migration;
            nothing of that migration run is kept.
    """
    if revision == "head" and _already_at_head(target):
        # A worker starting beside busy ones must not queue for the write lock (SQLite) or
        # the migration lock just to learn that there is nothing to do.
        return
    _migrate(target, lambda config: command.upgrade(config, revision))


def _already_at_head(target: str | Engine) -> bool:
    """Whether the database is at the newest revision, read without taking any lock.

    False when it cannot be read (missing tables, unreachable): the locked upgrade then
    creates the schema, or fails with the database's own error.
    """
    try:
        return database_revision(target) == head_revision()
    except SQLAlchemyError:
        return False


def downgrade_database(target: str | Engine, *, revision: str) -> None:
    """Migrate an audit database down to ``revision`` (``base`` drops every audit table).

    Args:
        target: The database URL or an audit engine, as for :func:`upgrade_database`.
        revision: The Alembic revision to reach.
    """
    _migrate(target, lambda config: command.downgrade(config, revision))


def database_revision(target: str | Engine) -> str | None:
    """The revision the database is at, None when it has never been migrated."""
    engine = create_audit_engine(target) if isinstance(target, str) else target
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        if isinstance(target, str):
            engine.dispose()


def head_revision() -> str:
    """The newest revision of the packaged migrations."""
    head = ScriptDirectory.from_config(_config(connection=None)).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def _migrate(target: str | Engine, apply: Callable[[Config], None]) -> None:
    """Run ``apply`` on a connection, in one transaction, holding the migration lock."""
    engine = create_audit_engine(target) if isinstance(target, str) else target
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(**WRITE_OPTIONS)
            with connection.begin():
                _lock_migrations(connection)
                apply(_config(connection=connection))
    finally:
        if isinstance(target, str):
            engine.dispose()


def _lock_migrations(connection: Connection) -> None:
    """Serialise concurrent migrations (SQLite already holds its write lock since BEGIN)."""
    if connection.dialect.name == "postgresql":
        # Released by the commit or rollback of this transaction.
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
        )


def _config(*, connection: Connection | None) -> Config:
    """An Alembic configuration for the packaged migrations, handing env.py the connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config
