"""Benchmark: the active-alert read of a scored batch, by how many alerts the store holds.

Every scored batch that may raise an alert (a high-risk estimate, a safety signal) first
reads the active alerts of its clients, in its write transaction
(:func:`service.audit.alerts.raise_in`), so that a problem already flagged is not flagged
twice. Alerts are kept once resolved or dismissed, so the table only grows: this read must
find a client's alerts through an index, not by reading them all.

The store is filled with ``N`` alerts of ``N`` clients spread over 200 clinics (states drawn
at random: open, acknowledged, resolved, dismissed), then one batch's alerts (one client,
already flagged, so nothing is inserted) are raised again and again in a transaction rolled
back each time. Each cell is microseconds per batch, the best of ``--rounds`` rounds; the
SQLite query plan of the read is printed beside it.

    uv run python bench/bench_alert_read.py
    uv run python bench/bench_alert_read.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import machine_line  # noqa: E402

SIZES = (0, 1_000, 10_000, 100_000)
CLINICS = 200
STATES = ("open", "acknowledged", "resolved", "dismissed")


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="an empty database (default: a new SQLite file)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reads", type=int, default=100, help="reads per round")
    options = parser.parse_args()
    load_before = os.getloadavg()
    rows = []
    for size in SIZES:
        with tempfile.TemporaryDirectory() as directory:
            url = options.database_url or f"sqlite:///{directory}/audit.db"
            rows.append((size, *_measure(url, size, options.rounds, options.reads)))
    print(machine_line(load_before))
    print(f"audit store: {_dialect(options.database_url)}; best of {options.rounds} rounds")
    print()
    print("| alerts stored | us per batch's alert read | SQLite query plan |")
    print("| ---: | ---: | --- |")
    for size, micros, plan in rows:
        print(f"| {size:,} | {micros:,.0f} | {plan} |")


def _dialect(url: str | None) -> str:
    return "SQLite (a new file)" if url is None else url.split(":", 1)[0]


def _measure(url: str, size: int, rounds: int, reads: int) -> tuple[float, str]:
    from sqlalchemy.orm import Session

    from service.audit import AuditStore, NewAssessment
    from service.audit.alerts import raise_in
    from service.audit.engine import create_audit_engine
    from service.audit.records import NewAlert
    from service.audit.tables import AlertRow
    from tests.support.assessment_bodies import example_request

    audit = AuditStore.open(url)
    engine = create_audit_engine(url)
    try:
        with engine.begin() as connection:  # a database passed in is emptied first
            connection.execute(AlertRow.__table__.delete())
        request = example_request()
        assessment_id = str(uuid.uuid4())
        audit.record_assessments(
            [
                NewAssessment(
                    assessment_id=assessment_id,
                    client_id=request["client"]["client_id"],
                    as_of_session=1,
                    model_name="bench",
                    model_version="1",
                    request=request,
                    response={},
                    caller="bench",
                )
            ]
        )
        rng = random.Random(size)
        raised_at = datetime.now(UTC)
        stored = [
            {
                "alert_id": str(uuid.uuid4()),
                "raised_at": raised_at,
                "clinic_id": f"clinic{index % CLINICS:03d}",
                "client_id": f"client-{index}",
                "therapist_id": "t-1",
                "assessment_id": assessment_id,
                "kind": "high_risk",
                "outcome": "dropout",
                "state": rng.choice(STATES),
            }
            for index in range(size)
        ]
        batch = [
            NewAlert(
                clinic_id="clinic007",
                client_id="client-7",
                therapist_id="t-1",
                assessment_id=assessment_id,
                kind="high_risk",
                outcome="dropout",
            )
        ]
        stored.append(vars(batch[0]) | {"alert_id": str(uuid.uuid4()), "raised_at": raised_at})
        stored[-1]["state"] = "open"
        if size:  # client-7 already holds the first alert; this one is the batch's own
            stored[7]["state"] = "resolved"
        with engine.begin() as connection:
            connection.execute(
                AlertRow.__table__.insert(),
                [{"id" if k == "alert_id" else k: v for k, v in row.items()} for row in stored],
            )
        best = float("inf")
        with Session(engine) as session:
            for _ in range(rounds):
                started = time.perf_counter()
                for _ in range(reads):
                    assert raise_in(session, batch) == []  # flagged already: nothing raised
                    session.rollback()
                best = min(best, (time.perf_counter() - started) / reads)
        plan = _sqlite_plan(engine, session_of=lambda: Session(engine), batch=batch)
        return best * 1e6, plan
    finally:
        engine.dispose()
        audit.close()


def _sqlite_plan(engine, *, session_of, batch) -> str:
    """SQLite's plan of the statement raise_in reads with (caught as it runs), or "-"."""
    from sqlalchemy import event

    from service.audit.alerts import raise_in

    if engine.dialect.name != "sqlite":
        return "-"
    caught = []

    def catch(_connection, _cursor, statement, parameters, _context, _executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            caught.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", catch)
    try:
        with session_of() as session:
            raise_in(session, batch)
            session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", catch)
    statement, parameters = caught[0]
    with engine.connect() as connection:
        cursor = connection.connection.cursor()
        return "; ".join(
            row[-1] for row in cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
        )


if __name__ == "__main__":
    main()
