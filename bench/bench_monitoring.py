"""Benchmark: the service's periodic monitoring check against a full read of the period.

Every worker checks the trailing 30 days of its audit store at start-up and every 15 minutes,
beside serving. This fills an audit database with ``--assessments`` assessments (a pool of
synthetic clients scored by the champion and stored as the service stores them, outcomes
reported for 60% of the clients), then measures, in this one process, with the real
:class:`service.watcher.MonitoringWatcher`:

- a full read: ``GET /v1/monitoring``'s report of the period (every stored record read and
  decoded), which is what every periodic check cost before the check kept a ledger;
- the check at start-up (an empty ledger: ids, then every record's scores);
- a check with nothing new; and one after ``--new`` more assessments were stored.

For each: wall time, CPU time of this process, and the memory the process holds after it
(resident set, after a garbage collection)::

    uv run python bench/bench_monitoring.py --tracking-uri sqlite:///data/mlflow.db
    uv run python bench/bench_monitoring.py --tracking-uri sqlite:///data/mlflow.db \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_monitoring

A PostgreSQL database must exist and be empty (``createdb``); SQLite uses a new temporary file.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

FILL_BATCH = 500
_EVER = datetime(2000, 1, 1, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True, help="MLflow store with a champion")
    parser.add_argument("--database-url", help="an empty audit database (default: SQLite)")
    parser.add_argument("--assessments", type=int, default=30_000)
    parser.add_argument("--new", type=int, default=500, help="assessments between checks")
    parser.add_argument("--clients", type=int, default=2_000, help="distinct clients")
    options = parser.parse_args()
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    logging.getLogger("service.watcher").setLevel(logging.ERROR)  # the alerts it finds

    with tempfile.TemporaryDirectory() as scratch:
        url = options.database_url or f"sqlite:///{Path(scratch) / 'audit.db'}"
        _run(options, url, Path(scratch))


def _run(options: argparse.Namespace, url: str, scratch: Path) -> None:
    from service.audit import AuditStore
    from service.lifecycle import ModelKeeper
    from service.observability import ServiceMetrics
    from service.settings import ServiceSettings
    from service.watcher import MonitoringWatcher

    settings = ServiceSettings(
        data_dir=scratch,
        mlflow_tracking_uri=options.tracking_uri,
        database_url=url,
        monitoring={"interval_seconds": 0},  # this script runs the checks
    )
    keeper = ModelKeeper(settings, alias=settings.model_alias)
    served = keeper.start()
    if served is None:
        raise SystemExit(f"no champion in {options.tracking_uri}: {keeper.status.error}")
    with AuditStore.open(url) as audit:
        if audit.assessment_ids(since=_EVER, until=_now()):
            raise SystemExit(f"{url} already holds assessments: give an empty database")
        requests = _request_pool(options.clients)
        started = time.perf_counter()
        _store_assessments(audit, served, requests, options.assessments)
        clients = _report_outcomes(audit)
        print(
            f"stored {options.assessments:,} assessments of {options.clients:,} clients "
            f"and {clients:,} outcomes in {time.perf_counter() - started:.0f} s ({url})\n"
        )
        watcher = MonitoringWatcher(
            settings=settings, audit=audit, keeper=keeper, metrics=ServiceMetrics()
        )
        period = timedelta(days=settings.monitoring.period_days)
        rows = [
            _measure(
                "full read (GET /v1/monitoring)",
                lambda: watcher.report(since=_now() - period, until=_now(), window=None),
            ),
            _measure("check at start-up", watcher.check),
            _measure("check, nothing new", watcher.check),
        ]
        _store_assessments(audit, served, requests, options.new)
        rows.append(_measure(f"check after {options.new:,} new", watcher.check))
    _print_table(rows)


def _now() -> datetime:
    return datetime.now(UTC)


def _request_pool(size: int) -> list:
    from service.schemas import AssessmentRequest
    from tests.support.assessment_bodies import request_pool

    bodies, _ = request_pool(size, seed=7)
    return [AssessmentRequest.model_validate(body) for body in bodies]


def _store_assessments(audit, served, requests: list, count: int) -> None:
    """``count`` assessments of the pool's clients in turn, made as the service makes them
    (scored, then committed with the alerts they raise), in batches."""
    from service.observability import ServiceMetrics
    from service.recording import Recorder
    from service.scoring import DEFAULT_FACTORS

    recorder = Recorder(audit=audit, metrics=ServiceMetrics(), factors=DEFAULT_FACTORS)
    offset = len(audit.assessment_ids(since=_EVER, until=_now()))
    for start in range(0, count, FILL_BATCH):
        batch = [
            requests[(offset + start + i) % len(requests)]
            for i in range(min(FILL_BATCH, count - start))
        ]
        recorder.score_and_record(batch, served, caller="bench")


def _report_outcomes(audit) -> int:
    """An ended episode for 60% of the clients, a week after their last session."""
    latest = {}
    for record in audit.assessments():
        latest[(record.clinic_id, record.client_id)] = record
    rng = random.Random(3)
    reported = 0
    for (clinic, client), record in latest.items():
        if rng.random() >= 0.6:
            continue
        last = max(date.fromisoformat(s["session_date"]) for s in record.request["sessions"])
        audit.record_outcome(
            client_id=client,
            clinic_id=clinic,
            termination=rng.choice(["completed", "dropout", "referred"]),
            end_date=last + timedelta(days=7),
            reported_by="bench",
        )
        reported += 1
    return reported


def _resident_mb() -> float:
    gc.collect()
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _measure(name: str, run: Callable[[], object]) -> tuple[str, float, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    error = getattr(result, "error", None)
    if error:
        raise SystemExit(f"{name} failed: {error}")
    return name, wall, cpu, _resident_mb()


def _print_table(rows: list[tuple[str, float, float, float]]) -> None:
    full_cpu = rows[0][2]
    print(f"| {'what':<32} | wall (s) | CPU (s) | CPU vs full read | RSS after (MB) |")
    print(f"| {'-' * 32} | ---: | ---: | ---: | ---: |")
    for name, wall, cpu, resident in rows:
        print(f"| {name:<32} | {wall:.2f} | {cpu:.2f} | {cpu / full_cpu:.2f}x | {resident:.0f} |")


if __name__ == "__main__":
    main()
