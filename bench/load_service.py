"""Load without loss: many concurrent clients against the real server, then the audit store.

Starts ``dropout-risk serve --workers W`` (a real process, on loopback) and lets C clients,
each on its own keep-alive connection, send ``POST /v1/risk-assessments`` back to back for
S seconds, one database after another (SQLite in the data dir; PostgreSQL in a fresh schema
of the test database). The bodies are a pool of contract-valid clients (the api.md example
and synthetic clients cut after 1 to 5 sessions) under distinctive client ids
(``zqload-00042``). Every 200 is parsed and its assessment id, client id and dropout
probability kept. Afterwards:

* the audit store must hold exactly the acknowledged ids, one record each, each with the
  client id and probability the client received, and each self-consistent (its response
  names its id, its input hash matches its request);
* the server's log must not contain any client id (it logs routes, never bodies);
* the table gives requests sent, 200s, audit records, errors (any other status, a transport
  failure or a timeout), p50/p95/p99 latency of the 200s and throughput.

The load generator is one asyncio (uvloop) thread in this process, writing pre-encoded
requests and reading whole responses (latency: from writing a request to reading all of its
answer). It shares the machine's cores with the server. The same code drives the short CI
versions (``tests/service/test_load.py``, ``tests/service/test_crash.py``); it lives in
``tests/support/load.py``.

    make load                                             # 60 s on each database, 32 clients
    uv run python bench/load_service.py --database sqlite --seconds 20 --clients 16
    uv run python bench/load_service.py --tracking-uri sqlite:///data/mlflow.db
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench.machine import machine_line
from tests.support.databases import audit_database
from tests.support.load import Run, load_run, markdown_table
from tests.support.quick_model import champion_registry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=60.0, help="of load per database")
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument(
        "--tracking-uri",
        help="MLflow store holding a champion of 'dropout-risk' (default: train a quick one "
        "into a temporary SQLite store, as bench/bench_service.py does)",
    )
    parser.add_argument("--log-level", choices=["INFO", "WARNING"], default="INFO")
    options = parser.parse_args()
    databases = ["sqlite", "postgresql"] if options.database == "both" else [options.database]

    load_before = os.getloadavg()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="load-service-") as scratch:
        root = Path(scratch)
        tracking_uri = champion_registry(options.tracking_uri, root / "registry")
        for database in databases:
            directory = root / database
            directory.mkdir()
            print(f"{database}: {options.clients} clients for {options.seconds:.0f} s ...")
            with audit_database(database, directory) as url:
                runs.append(
                    load_run(
                        database=database,
                        database_url=url,
                        directory=directory,
                        tracking_uri=tracking_uri,
                        workers=options.workers,
                        clients=options.clients,
                        seconds=options.seconds,
                        log_level=options.log_level,
                    )
                )
    print()
    print(machine_line(load_before))
    print(
        f"server: dropout-risk serve --workers {options.workers}, log level "
        f"{options.log_level}; client: one asyncio thread, {options.clients} keep-alive "
        "connections, sharing the machine's cores with the server"
    )
    print()
    print(markdown_table(runs))
    print()
    failed = False
    for run in runs:
        audit = run.audit
        print(
            f"- {run.database}: ready {run.ready_seconds:.1f} s after start; statuses "
            f"{dict(sorted(run.load.statuses.items()))}; connect failures "
            f"{run.load.connect_failures}; duplicate ids {run.load.duplicate_ids}; integrity "
            f"{run.integrity}; missing {len(audit.missing)}, unacknowledged "
            f"{len(audit.unacknowledged)}, mismatched {len(audit.mismatched)}, inconsistent "
            f"{len(audit.inconsistent)}"
        )
        failed |= bool(
            run.load.errors
            or not audit.exact
            or run.leaks
            or run.integrity != "ok"
            or run.load.duplicate_ids
        )
    if failed:
        raise SystemExit("FAILED: see above")


if __name__ == "__main__":
    main()
