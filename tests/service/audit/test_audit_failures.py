"""When the database fails: nothing is acknowledged that was not committed, and it says so."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from service.audit import AuditStore, AuditUnavailableError, database_revision, head_revision
from service.audit.engine import SQLITE_BUSY_TIMEOUT_MS, create_audit_engine
from service.audit.migrate import _MIGRATION_LOCK_KEY as _LOCK_KEY
from service.audit.migrate import upgrade_database

CLOSED_PORT_URL = "postgresql+psycopg://postgres@127.0.0.1:1/test"


@pytest.fixture
def unreachable_store(backend: str, tmp_path: Path) -> Iterator[AuditStore]:
    """A store whose database cannot be reached: a closed port, or a path under a file."""
    if backend == "sqlite":
        directory = tmp_path / "audit"
        engine = create_audit_engine(f"sqlite:///{directory / 'audit.db'}")
        directory.rmdir()
        directory.write_text("a file where the database's directory was")
    else:
        engine = create_audit_engine(CLOSED_PORT_URL)
    store = AuditStore(engine=engine)
    yield store
    store.close()


def test_unreachable_database_is_reported_not_acknowledged(unreachable_store, assess):
    assert unreachable_store.ping() is False
    with pytest.raises(AuditUnavailableError, match="commit the assessment"):
        assess(unreachable_store)
    with pytest.raises(AuditUnavailableError, match="commit the outcome"):
        unreachable_store.record_outcome(
            client_id="c-1", termination="dropout", end_date=date(2026, 4, 2), reported_by=None
        )
    with pytest.raises(AuditUnavailableError):
        unreachable_store.get_assessment(str(uuid.uuid4()))
    with pytest.raises(AuditUnavailableError):
        list(unreachable_store.assessments())


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_opening_an_unreachable_database_fails_clearly(backend):
    url = "sqlite:////dev/null/audit/audit.db" if backend == "sqlite" else CLOSED_PORT_URL
    with pytest.raises(AuditUnavailableError, match="audit"):
        AuditStore.open(url)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_refused(url):
    with pytest.raises(ValueError, match="in-memory"):
        AuditStore.open(url)


def test_ping_is_true_on_a_live_database(store):
    assert store.ping() is True


def test_failed_commit_raises_and_keeps_nothing(audit_url, assess, monkeypatch):
    engine = create_audit_engine(audit_url)
    upgrade_database(engine)
    store = AuditStore(engine=engine)
    dbapi_error = engine.dialect.loaded_dbapi.OperationalError

    def failing_commit(_dbapi_connection) -> None:
        raise dbapi_error("disk I/O error")

    try:
        with monkeypatch.context() as patch:
            patch.setattr(engine.dialect, "do_commit", failing_commit)
            with pytest.raises(AuditUnavailableError, match="disk I/O error"):
                assess(store, client_id="c-lost")
            with pytest.raises(AuditUnavailableError):
                store.record_outcome(
                    client_id="c-lost", termination="ongoing", end_date=None, reported_by=None
                )
        assert list(store.assessments()) == []
        assert list(store.outcomes()) == []
        kept = assess(store)  # the store works again once commits do
        assert list(store.assessments()) == [kept]
    finally:
        store.close()


def test_errors_do_not_quote_personal_data(store, make_request):
    assessment_id = str(uuid.uuid4())
    fields = {
        "assessment_id": assessment_id,
        "client_id": "c-private-4711",
        "as_of_session": 2,
        "model_name": "dropout-risk",
        "model_version": "3",
        "request": make_request(client_id="c-private-4711"),
        "response": {},
    }
    store.record_assessment(**fields)
    with pytest.raises(AuditUnavailableError) as raised:
        store.record_assessment(**fields)  # the same id twice: the database refuses it
    assert "c-private-4711" not in str(raised.value)
    assert "c-private-4711" not in str(raised.value.__cause__)
    assert len(list(store.assessments())) == 1


def test_workers_starting_together_migrate_once(audit_url):
    def open_and_ping() -> bool:
        with AuditStore.open(audit_url) as opened:
            return opened.ping()

    pool = ThreadPoolExecutor(max_workers=4)
    starts = [pool.submit(open_and_ping) for _ in range(4)]
    # Without the migration lock this can deadlock: fail rather than hang. (Stuck
    # PostgreSQL connections are ended by the fixture's teardown, freeing the threads.)
    _, stuck = wait(starts, timeout=30)
    pool.shutdown(wait=False)
    assert not stuck, "concurrent migrations did not finish"
    assert [start.result() for start in starts] == [True] * 4
    assert database_revision(audit_url) == head_revision()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_is_in_wal_mode_and_fully_synced(store, audit_url, assess):
    assess(store)
    path = make_url(audit_url).database
    with sqlite3.connect(path) as raw:  # a connection of its own: WAL persists in the file
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert Path(f"{path}-wal").exists()

    engine = create_audit_engine(audit_url)
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA synchronous").scalar() == 2  # FULL
            assert pragma("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
            assert pragma("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_postgres_store_recovers_after_its_connections_are_killed(
    store, audit_url, assess, postgres_admin
):
    first = assess(store)
    application_name = make_url(audit_url).query["application_name"]
    with postgres_admin.connect() as connection:
        killed = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = :name"
            ),
            {"name": application_name},
        ).scalar()
    assert killed >= 1
    assert store.ping() is True
    second = assess(store)  # pre-ping replaced the dead pooled connection
    assert list(store.assessments()) == [first, second]


@contextmanager
def _migration_lock_held(audit_url: str) -> Iterator[None]:
    """Hold what a migration needs: SQLite's write lock, or PostgreSQL's migration lock."""
    url = make_url(audit_url)
    if url.get_backend_name() == "sqlite":
        writer = sqlite3.connect(url.database, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")  # a writer mid-transaction
        try:
            yield
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        return
    engine = create_audit_engine(audit_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock_all()"))
    finally:
        engine.dispose()


def test_a_worker_starting_beside_a_busy_writer_does_not_wait_for_its_lock(audit_url, assess):
    # A worker (re)started under load opens a database that is already migrated: it must not
    # queue for the lock a migration takes, or it could wait out the busy timeout and fail
    # its start-up (which stops uvicorn's every worker).
    with AuditStore.open(audit_url) as first:
        assess(first)
    pool = ThreadPoolExecutor(max_workers=1)
    with _migration_lock_held(audit_url):
        opening = pool.submit(lambda: AuditStore.open(audit_url))
        done, _ = wait([opening], timeout=SQLITE_BUSY_TIMEOUT_MS / 1000 / 3)
        assert done, "opening a migrated store waited for the migration lock"
        with opening.result() as second:
            assert second.ping() is True
            assert len(list(second.assessments())) == 1
    pool.shutdown(wait=True)
