"""Alembic environment of the audit store.

Normally run by :mod:`service.audit.migrate`, which passes an open connection (inside a
transaction) in ``config.attributes["connection"]``. With ``sqlalchemy.url`` set instead it
also serves the alembic command line, including ``--sql`` (offline) scripts for a DBA.
Logging is left alone: the service configures its own.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from service.audit.tables import AuditBase


def _configure(connection: Connection) -> None:
    """Point Alembic at ``connection``; SQLite alters tables by copying them (batch mode)."""
    context.configure(
        connection=connection,
        target_metadata=AuditBase.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def _run_offline() -> None:
    """Write the migration SQL for ``sqlalchemy.url``'s dialect instead of running it."""
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=AuditBase.metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    """Migrate over the given connection, or over a new one to ``sqlalchemy.url``."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
