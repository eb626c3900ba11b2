"""Throw-away audit databases: a scratch schema on the local PostgreSQL, or an SQLite file;
for the tests and the load bench."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, make_url, text

POSTGRES_URL = os.environ.get(
    "AUDIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
"""The PostgreSQL database whose scratch schemas hold test and bench audit stores."""


@contextmanager
def scratch_schema(admin: Engine, *, prefix: str) -> Iterator[str]:
    """A fresh schema in :data:`POSTGRES_URL`'s database; yields a URL that works inside it.

    Args:
        admin: An autocommit engine on that database.
        prefix: Start of the schema's name (the rest is random).

    Yields:
        A SQLAlchemy URL whose connections use the schema (``search_path``) and are marked
        with its name (``application_name``), so the drop afterwards can end stragglers.
    """
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield (
            make_url(POSTGRES_URL)
            .update_query_dict({"options": f"-csearch_path={schema}", "application_name": schema})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = :name AND pid <> pg_backend_pid()"
                ),
                {"name": schema},
            )
            connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@contextmanager
def audit_database(kind: str, directory: Path) -> Iterator[str]:
    """An empty audit database: an SQLite file under ``directory``, or a fresh PostgreSQL
    schema in the test database (dropped afterwards, its connections ended first)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'audit' / 'audit.db'}"
        return
    from sqlalchemy import create_engine

    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with scratch_schema(admin, prefix="load") as url:
            yield url
    finally:
        admin.dispose()
