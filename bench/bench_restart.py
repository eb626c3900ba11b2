"""How long a restart takes: from starting `dropout-risk serve` to `/ready` answering 200.

Issue 7 asks that a service killed with SIGKILL be ready again "within a few seconds". For
each number of workers, the server is started on one data directory and one audit database
again and again, each run ending with a SIGKILL of the whole process group (as a crash or
the OOM killer would), and timed:

* **cold**: no model cache (``<data_dir>/model-cache`` removed before the start): the model
  comes from the registry;
* **warm**: the cache left by the run before holds the champion's version, as after a crash.

and with two states of Python's bytecode cache (most of a start is importing modules):

* **as is**: the environment as it is (``PYTHONDONTWRITEBYTECODE=1`` where no ``.pyc``
  exists means every process compiles every module it imports from source);
* **cached**: a bytecode cache of its own (``PYTHONPYCACHEPREFIX`` in the scratch directory,
  filled by one untimed start first), as an installed service that may write its ``.pyc``
  files, or an image built with them (``UV_COMPILE_BYTECODE=1``), has.

Each start is timed from just after the process was created to the first ``/ready`` 200
(``ready`` or ``degraded``: the service scores), and to the first ``/ready`` saying
``ready`` (the registry has confirmed the served version); ``/ready`` is polled every
50 ms. The audit database (SQLite in the data directory) is created and migrated once
before timing, since a restart finds it so. The table gives the median, minimum and maximum
of each. The benchmark shares the machine's cores with the server.

Without ``--tracking-uri`` a quick model is first trained on 4,000 synthetic clients and
registered into a temporary MLflow SQLite store (as bench/bench_service.py does).

    uv run python bench/bench_restart.py
    uv run python bench/bench_restart.py --workers 2 --repetitions 5 --bytecode cached
    uv run python bench/bench_restart.py --tracking-uri sqlite:///data/mlflow.db
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.machine import machine_line
from tests.support.quick_model import champion_registry

POLL_SECONDS = 0.05
READY_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Start:
    """One timed start: seconds to the first 200 from /ready and to ``ready`` proper."""

    workers: int
    bytecode: str
    cache: str
    to_200: float
    to_ready: float


def time_start(server, *, timeout: float = READY_TIMEOUT_S) -> tuple[float, float]:
    """Poll ``/ready``; return the seconds since the start to its first 200 and to ``ready``.

    Raises:
        SystemExit: The process exited or was not ready in time (with its log's tail).
    """
    first_200 = None
    while True:
        elapsed = time.monotonic() - server.started
        if server.process.poll() is not None or elapsed > timeout:
            tail = "\n".join(server.log.read_text(errors="replace").splitlines()[-20:])
            raise SystemExit(f"the server did not become ready:\n{tail}")
        try:
            answer = server.http.get("/ready", timeout=5)
        except httpx.TransportError:
            answer = None
        if answer is not None and answer.status_code == 200:
            now = time.monotonic() - server.started
            first_200 = now if first_200 is None else first_200
            if answer.json()["status"] == "ready":
                return first_200, now
        time.sleep(POLL_SECONDS)


def run_starts(
    *, directory: Path, tracking_uri: str, workers: int, bytecode: str, repetitions: int
) -> list[Start]:
    """Cold then warm starts, ``repetitions`` times, each ended by a SIGKILL."""
    from service.audit import AuditStore
    from service.security import Scope, new_token
    from tests.support.servers import start_server

    database_url = f"sqlite:///{directory / 'audit' / 'audit.db'}"
    AuditStore.open(database_url).close()  # created and migrated, as a restart finds it
    _token, entry = new_token(name="restart", scopes={Scope.RISK_WRITE}, all_clinics=True)
    cache = directory / "data" / "model-cache"
    environment = {}
    if bytecode == "cached":  # an empty PYTHONDONTWRITEBYTECODE is as good as unset
        pycache = directory / "pycache"
        environment = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(pycache)}
    runs = [("fill", "cold")] if bytecode == "cached" else []
    runs += [(str(n + 1), kind) for n in range(repetitions) for kind in ("cold", "warm")]
    starts = []
    for run, kind in runs:
        if kind == "cold":
            shutil.rmtree(cache, ignore_errors=True)
        server = start_server(
            directory=directory,
            tracking_uri=tracking_uri,
            database_url=database_url,
            tokens=[entry],
            extra_environment=environment,
            workers=workers,
            log_name=f"server-{run}-{kind}.log",
        )
        try:
            to_200, to_ready = time_start(server)
        finally:
            server.kill()
            server.stop()
        print(
            f"  workers {workers}, bytecode {bytecode}, {kind}, run {run}: /ready 200 after "
            f"{to_200:.2f} s, 'ready' after {to_ready:.2f} s",
            flush=True,
        )
        if run != "fill":
            starts.append(Start(workers, bytecode, kind, to_200, to_ready))
    return starts


def markdown_table(starts: list[Start]) -> str:
    """Median, minimum and maximum per number of workers and cache state."""
    lines = [
        "| workers | bytecode | model cache | runs | /ready 200: median s | min s | max s "
        "| 'ready': median s | min s | max s |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for group in sorted({(s.workers, s.bytecode, s.cache) for s in starts}):
        workers, bytecode, cache = group
        to_200 = [s.to_200 for s in starts if (s.workers, s.bytecode, s.cache) == group]
        to_ready = [s.to_ready for s in starts if (s.workers, s.bytecode, s.cache) == group]
        lines.append(
            f"| {workers} | {bytecode} | {cache} | {len(to_200)} "
            f"| {statistics.median(to_200):.1f} "
            f"| {min(to_200):.1f} | {max(to_200):.1f} | {statistics.median(to_ready):.1f} "
            f"| {min(to_ready):.1f} | {max(to_ready):.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repetitions", type=int, default=3, help="cold and warm starts each")
    parser.add_argument(
        "--bytecode", nargs="+", choices=["as-is", "cached"], default=["as-is", "cached"]
    )
    parser.add_argument(
        "--tracking-uri",
        help="MLflow store holding a champion of 'dropout-risk' (default: train a quick one "
        "into a temporary SQLite store)",
    )
    options = parser.parse_args()
    if options.repetitions < 1 or min(options.workers) < 1:
        parser.error("--workers and --repetitions must be at least 1")

    load_before = os.getloadavg()
    starts: list[Start] = []
    with tempfile.TemporaryDirectory(prefix="bench-restart-") as scratch:
        root = Path(scratch)
        tracking_uri = champion_registry(options.tracking_uri, root / "registry")
        for bytecode in options.bytecode:
            for workers in options.workers:
                directory = root / f"{bytecode}-workers-{workers}"
                directory.mkdir()
                starts += run_starts(
                    directory=directory,
                    tracking_uri=tracking_uri,
                    workers=workers,
                    bytecode=bytecode,
                    repetitions=options.repetitions,
                )
    print()
    print(machine_line(load_before))
    print(
        f"registry: {tracking_uri}; each start ended by SIGKILL to the process group; "
        f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r} here"
    )
    print()
    print(markdown_table(starts))


if __name__ == "__main__":
    main()
