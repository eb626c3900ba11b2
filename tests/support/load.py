"""Load without loss, the parts shared by ``bench/load_service.py`` (``make load``) and the
tests that load a real server (``tests/service/test_load.py``, ``tests/service/test_crash.py``,
``tests/service/test_dependencies.py``).

C clients, each on its own keep-alive connection, send ``POST /v1/risk-assessments`` back to
back. The bodies are a pool of contract-valid clients (the api.md example and synthetic
clients cut after 1 to 5 sessions) under distinctive client ids (``zqload-00042``). Every 200
is parsed and its assessment id, client id and dropout probability kept; afterwards the
audit store is compared with them (:func:`check_audit`), checked for integrity, and the
server's log searched for client ids.

The load generator is one asyncio (uvloop) thread in the calling process, writing
pre-encoded requests and reading whole responses (latency: from writing a request to
reading all of its answer). It shares the machine's cores with the server.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import json
import math
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.support.assessment_bodies import request_pool
from tests.support.servers import start_server

HOST = "127.0.0.1"
RISK_PATH = "/v1/risk-assessments"
CLIENT_PREFIX = "zqload-"
"""Starts every client id the load sends: distinctive, so that a leak into a log is found."""
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Acknowledgement:
    """What a client was told in a 200: enough to recognise its audit record."""

    client_id: str
    dropout_probability: float


@dataclass
class LoadResult:
    """Everything the clients sent and received in one run."""

    clients: int
    elapsed: float = 0.0
    sent: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    """Answers by status; 0 counts requests that got no answer (transport error, timeout)."""
    connect_failures: int = 0
    acknowledged: dict[str, Acknowledgement] = field(default_factory=dict)
    duplicate_ids: int = 0
    latencies: list[float] = field(default_factory=list)
    """Seconds per 200, from writing the request to reading the whole answer."""

    @property
    def ok(self) -> int:
        """The 200s."""
        return self.statuses[200]

    @property
    def errors(self) -> int:
        """Requests not answered 200, and connections that could not be opened."""
        return self.sent - self.ok + self.connect_failures

    @property
    def throughput(self) -> float:
        """200s per second."""
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        """The ``q``-th percentile of the 200s' latency, in milliseconds."""
        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else math.nan


# --- the requests ---------------------------------------------------------------------------


def request_bodies(count: int = 500, *, seed: int = 12) -> list[dict[str, Any]]:
    """``count`` valid assessment bodies: 50 clinical histories under distinct client ids."""
    pool, _rows = request_pool(50, seed)
    bodies = []
    for k in range(count):
        body = copy.deepcopy(pool[k % len(pool)])
        body["client"]["client_id"] = f"{CLIENT_PREFIX}{k:05d}"
        bodies.append(body)
    return bodies


def encode_requests(port: int, bodies: list[dict[str, Any]], token: str) -> list[bytes]:
    """Each body as a complete keep-alive HTTP/1.1 ``POST /v1/risk-assessments``."""
    encoded = []
    for body in bodies:
        payload = json.dumps(body, separators=(",", ":")).encode()
        head = (
            f"POST {RISK_PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        )
        encoded.append(head.encode() + payload)
    return encoded


# --- the load generator ---------------------------------------------------------------------


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes, bool]:
    """Send one request; return the status, the whole body, and whether to keep the connection."""
    if writer.is_closing():
        # The server went away since the last answer (a SIGKILL): uvloop's write would raise
        # RuntimeError on the closed transport, which is a broken connection like any other.
        raise ConnectionResetError("the server closed the connection")
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, keep_alive = 0, True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            raise ValueError("chunked answers are not expected from this endpoint")
        elif name == b"connection" and value == b"close":
            keep_alive = False
    return status, await reader.readexactly(length), keep_alive


async def _client(
    port: int,
    requests: list[bytes],
    *,
    offset: int,
    until: float,
    stop: threading.Event,
    result: LoadResult,
) -> None:
    """One client: requests back to back on one connection, reopened whenever it breaks."""
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    i = offset
    try:
        while time.perf_counter() < until and not stop.is_set():
            if connection is None:
                try:
                    connection = await asyncio.wait_for(
                        asyncio.open_connection(HOST, port), REQUEST_TIMEOUT_S
                    )
                except (OSError, TimeoutError):
                    result.connect_failures += 1
                    await asyncio.sleep(0.05)  # the server is down: do not spin
                    continue
            request = requests[i % len(requests)]
            i += 1
            result.sent += 1
            started = time.perf_counter()
            try:
                status, body, keep_alive = await asyncio.wait_for(
                    _exchange(*connection, request), REQUEST_TIMEOUT_S
                )
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                status, body, keep_alive = 0, b"", False
            latency = time.perf_counter() - started
            result.statuses[status] += 1
            if status == 200:
                answer = json.loads(body)
                assessment_id = answer["assessment_id"]
                if assessment_id in result.acknowledged:
                    result.duplicate_ids += 1
                result.acknowledged[assessment_id] = Acknowledgement(
                    answer["client_id"], answer["dropout"]["probability"]
                )
                result.latencies.append(latency)
            if not keep_alive:
                connection[1].close()
                connection = None
    finally:
        if connection is not None:
            connection[1].close()


async def _load(
    port: int,
    requests: list[bytes],
    *,
    seconds: float,
    stop: threading.Event,
    result: LoadResult,
) -> LoadResult:
    spread = max(len(requests) // result.clients, 1)  # clients start at different bodies
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(
        *(
            _client(port, requests, offset=c * spread, until=until, stop=stop, result=result)
            for c in range(result.clients)
        )
    )
    result.elapsed = time.perf_counter() - started
    return result


def run_load(
    port: int,
    requests: list[bytes],
    *,
    clients: int,
    seconds: float,
    stop: threading.Event | None = None,
    result: LoadResult | None = None,
) -> LoadResult:
    """Send ``requests`` round-robin from ``clients`` connections for ``seconds``.

    Args:
        port: The server's port on loopback.
        requests: Pre-encoded requests (:func:`encode_requests`).
        clients: Concurrent connections.
        seconds: How long to go on (``math.inf``: until ``stop``).
        stop: Set from another thread to stop early (each client finishes its request).
        result: Where to count (another thread may read it meanwhile); a new one if None.

    Returns:
        Everything sent and received.
    """
    result = result or LoadResult(clients=clients)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(
            _load(port, requests, seconds=seconds, stop=stop or threading.Event(), result=result)
        )


class BackgroundLoad:
    """:func:`run_load` in a thread until :meth:`stop`; :attr:`result` grows meanwhile."""

    def __init__(self, port: int, requests: list[bytes], *, clients: int) -> None:
        self.result = LoadResult(clients=clients)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=run_load,
            args=(port, requests),
            kwargs={
                "clients": clients,
                "seconds": math.inf,
                "stop": self._stop,
                "result": self.result,
            },
            name="load",
            daemon=True,
        )

    def __enter__(self) -> BackgroundLoad:
        self._thread.start()
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        """Stop the clients (each finishes or times out its request in flight); the result."""
        self._stop.set()
        self._thread.join(timeout=REQUEST_TIMEOUT_S + 30)
        if self._thread.is_alive():
            raise RuntimeError("the load thread did not stop")
        return self.result


def loop_factory() -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


# --- what the audit store holds -------------------------------------------------------------


@dataclass(frozen=True)
class AuditCheck:
    """The audit store compared with what the clients were told."""

    records: int
    missing: frozenset[str]
    """Acknowledged ids without a record: lost assessments (must be empty)."""
    unacknowledged: frozenset[str]
    """Records no client saw a 200 for (answers cut off by a crash, or sent elsewhere)."""
    mismatched: frozenset[str]
    """Records whose client id or probability differ from the 200's."""
    inconsistent: frozenset[str]
    """Records whose response names another id or whose input hash does not match."""

    @property
    def exact(self) -> bool:
        """One record for every 200 and nothing else, each holding what was answered."""
        return not (self.missing or self.unacknowledged or self.mismatched or self.inconsistent)


def check_audit(database_url: str, acknowledged: dict[str, Acknowledgement]) -> AuditCheck:
    """Read every assessment in the audit store and compare it with the 200s."""
    from service.audit import AuditStore
    from service.audit.records import input_sha256

    stored: set[str] = set()
    records = 0
    mismatched, inconsistent = set(), set()
    with AuditStore.open(database_url) as store:
        for record in store.assessments():
            records += 1
            stored.add(record.assessment_id)
            if (
                record.response.get("assessment_id") != record.assessment_id
                or input_sha256(record.request) != record.input_sha256
            ):
                inconsistent.add(record.assessment_id)
            told = acknowledged.get(record.assessment_id)
            if told is not None and told != Acknowledgement(
                record.client_id, record.response["dropout"]["probability"]
            ):
                mismatched.add(record.assessment_id)
    return AuditCheck(
        records=records,
        missing=frozenset(acknowledged.keys() - stored),
        unacknowledged=frozenset(stored - acknowledged.keys()),
        mismatched=frozenset(mismatched),
        inconsistent=frozenset(inconsistent),
    )


def integrity_check(database_url: str) -> str:
    """``ok``, or what is wrong: SQLite's ``PRAGMA integrity_check``; on PostgreSQL, that every
    key is unique and every row readable (there is no built-in whole-database check)."""
    from sqlalchemy import create_engine, make_url, text

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        with sqlite3.connect(url.database) as connection:
            rows = connection.execute("PRAGMA integrity_check").fetchall()
        return "; ".join(str(row[0]) for row in rows)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            total, distinct, unnamed = connection.execute(
                text(
                    "SELECT count(*), count(DISTINCT id),"
                    " count(*) FILTER (WHERE response->>'assessment_id' IS DISTINCT FROM id)"
                    " FROM assessments"
                )
            ).one()
    finally:
        engine.dispose()
    problems = []
    if total != distinct:
        problems.append(f"{total - distinct} duplicate keys")
    if unnamed:
        problems.append(f"{unnamed} rows whose response names another id")
    return "; ".join(problems) or "ok"


def leaked_client_ids(log: str) -> int:
    """How often a load client id appears in ``log`` (must be 0)."""
    return log.count(CLIENT_PREFIX)


# --- one run: a server, the load, the checks ------------------------------------------------


@dataclass
class Run:
    """One database's run, checked."""

    database: str
    workers: int
    load: LoadResult
    audit: AuditCheck
    integrity: str
    leaks: int
    ready_seconds: float


def load_run(
    *,
    database: str,
    database_url: str,
    directory: Path,
    tracking_uri: str,
    workers: int,
    clients: int,
    seconds: float,
    log_level: str = "INFO",
) -> Run:
    """Start a server on ``database_url``, load it, stop it, and check the audit store."""
    from service.security import Scope, new_token

    token, entry = new_token(name="load", scopes={Scope.RISK_WRITE}, all_clinics=True)
    server = start_server(
        directory=directory,
        tracking_uri=tracking_uri,
        database_url=database_url,
        tokens=[entry],
        extra_environment={"DROPOUT_RISK_LOG_LEVEL": log_level},
        workers=workers,
    )
    try:
        ready = server.wait_until_ready(timeout=180)
        requests = encode_requests(server.port, request_bodies(), token)
        result = run_load(server.port, requests, clients=clients, seconds=seconds)
    finally:
        server.stop()
    if result.errors:
        # What the server said about failing: its log without the access lines.
        said = [
            line
            for line in server.log.read_text(errors="replace").splitlines()
            if '"logger": "service.access"' not in line
        ]
        print(f"{database}: {result.errors} errors; the server's last log lines:")
        print("\n".join(said[-25:]))
    return Run(
        database=database,
        workers=workers,
        load=result,
        audit=check_audit(database_url, result.acknowledged),
        integrity=integrity_check(database_url),
        leaks=leaked_client_ids(server.log.read_text(errors="replace")),
        ready_seconds=ready,
    )


def markdown_table(runs: list[Run]) -> str:
    """The figures of each run as a Markdown table."""
    lines = [
        "| database | workers | clients | seconds | requests sent | 200s | audit records "
        "| errors | ids equal | p50 ms | p95 ms | p99 ms | 200s/s | client ids in log |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: "
        "| ---: | ---: |",
    ]
    for run in runs:
        load = run.load
        lines.append(
            f"| {run.database} | {run.workers} | {load.clients} | {load.elapsed:.1f} "
            f"| {load.sent:,} | {load.ok:,} | {run.audit.records:,} | {load.errors} "
            f"| {'yes' if run.audit.exact else 'NO'} | {load.percentile_ms(50):.1f} "
            f"| {load.percentile_ms(95):.1f} | {load.percentile_ms(99):.1f} "
            f"| {load.throughput:,.0f} | {run.leaks} |"
        )
    return "\n".join(lines)
