"""Benchmark of the REST service against `mlflow models serve`, same model, same clients.

Measures latency (p50, p95, p99) and throughput of single assessments, at several levels of
concurrency, for two servers of one registered model version:

* ours, `dropout-risk serve` (uvicorn): `POST /v1/risk-assessments` with a client and its
  sessions; each answer is validated, featurised, scored, explained (factors, clinical
  signals) and committed to the audit store before it is sent (default SQLite under the
  data dir: WAL, `synchronous=FULL`, so one fsynced commit per assessment);
* with ``--mlserver-python``, Seldon MLServer serving the version's dropout booster alone
  (bench/mlserver_peer.py): bare probabilities on the same feature rows;
* with ``--bentoml-python``, BentoML serving the same booster the same way
  (bench/bentoml_peer.py);
* `mlflow models serve --env-manager local` of the same version (the pyfunc of
  `models/pyfunc.py`): `POST /invocations` with the same clients' feature rows, computed
  client-side once before timing; it returns probabilities and risk levels only (no
  validation of the contract, no explanations, no signals, no audit).

Without `--tracking-uri` a quick model is first trained on 4,000 synthetic clients (the test
suite's light configuration) and registered into a temporary MLflow SQLite store; with it,
the version its `champion` alias points at is served by both. The requests are a pool of 50
bodies: the api.md example and 49 synthetic clients (another seed) cut after 1 to 5
sessions; the mlflow pool holds the same clients' feature rows, in the same order.

The load generator is one asyncio (uvloop) thread in this process holding C keep-alive
connections per server, each sending pre-encoded requests back to back; latency is taken
with `time.perf_counter` from writing a request to reading the whole response. Throughput
and percentiles count 200 answers only; anything else (warm-ups included) is an error. The
servers are measured alternately (ours C=1, mlflow C=1, ours C=4, ...) so that the
machine's noise hits both. Client and servers share the machine's cores: on a small
machine the client's own CPU use takes from both servers' throughput.

Logging: both servers run at WARNING by default, so that per-request access lines (ours:
one JSON line per request; mlflow's: uvicorn's access log) do not dominate; with
`--log-level INFO` both log every request, as ours does by default.

    uv run python bench/bench_service.py
    uv run python bench/bench_service.py --workers 2 --concurrency 1 4 16 --seconds 10
    uv run python bench/bench_service.py --tracking-uri sqlite:///data/mlflow.db --requests 2000

On a noisy machine, ``--rounds N`` measures every level and server N times in turn; each
ratio is taken within a round (the servers measured back to back) and their median is
reported beside each round's, and the percentiles are over all rounds' requests:

    uv run python bench/bench_service.py --tracking-uri sqlite:///data/mlflow.db \\
        --concurrency 1 16 --seconds 5 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import bentoml_peer, mlserver_peer
from bench.machine import machine_line
from tests.support.assessment_bodies import request_pool
from tests.support.load import loop_factory
from tests.support.quick_model import train_and_register
from tests.support.servers import free_port
from tests.support.throughput import Result, median_ratio, pooled, ratio_words, ratios

REPO = Path(__file__).resolve().parent.parent
MODEL_NAME = "dropout-risk"
RISK_PATH = "/v1/risk-assessments"
POOL_SIZE = 50
READY_PATHS = {
    "ours": "/ready",
    "mlflow": "/ping",
    "mlserver": "/v2/health/ready",
    "bentoml": bentoml_peer.READY_PATH,
}
#: The servers our throughput is compared with, in the order they are measured.
PEERS = ("mlflow", "mlserver", "bentoml")


@dataclass
class Server:
    """One server under test: its process, where it listens, its pre-encoded requests."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    requests: list[bytes] = field(default_factory=list)


# --- the model ------------------------------------------------------------------------------


def champion_version(tracking_uri: str) -> str:
    """The version the champion alias points at (what our server will serve)."""
    from models.registry_store import RegistryLocation, alias_version

    version = alias_version(RegistryLocation(mlflow_tracking_uri=tracking_uri))
    if version is None:
        raise SystemExit(f"{MODEL_NAME!r} has no champion version in {tracking_uri}")
    return version


# --- the requests ---------------------------------------------------------------------------


def encode(port: int, path: str, body: dict[str, Any], headers: dict[str, str]) -> bytes:
    """A complete HTTP/1.1 keep-alive POST request, ready to write to a socket."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


# --- the servers ----------------------------------------------------------------------------


def start(name: str, command: list[str], env: dict[str, str], log: Path, port: int) -> Server:
    """Start a server in its own process group, its output going to ``log``."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Server(name=name, process=process, port=port, log=log)


def wait_until_ready(server: Server, path: str, timeout: float) -> None:
    """Poll ``path`` until it answers 200; exit with the server's output if it never does."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{server.port}{path}"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            fail(server, f"exited with code {server.process.returncode} before it was ready")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    fail(server, f"not ready after {timeout:.0f} s")


def fail(server: Server, why: str) -> None:
    print(f"{server.name} {why}; its output:", file=sys.stderr)
    print(server.log.read_text(errors="replace")[-20_000:], file=sys.stderr)
    raise SystemExit(1)


def stop(server: Server) -> None:
    """SIGTERM the server's process group, wait, and SIGKILL it only if it hangs."""
    if server.process.poll() is not None:
        return
    try:
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()
    except ProcessLookupError:
        pass


# --- the load generator ---------------------------------------------------------------------


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bool]:
    """Send one request and read its whole response; return the status and keep-alive."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, chunked, keep_alive = 0, False, True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value:
            chunked = True
        elif name == b"connection" and value == b"close":
            keep_alive = False
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, keep_alive


async def _send(
    server: Server,
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    *,
    offset: int,
    until: float,
    budget: list[int],
    result: Result,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Send requests back to back on one connection until the time or the budget runs out.

    Returns the connection to go on with (a new one if the server closed it).
    """
    reader, writer = connection
    pool, i = server.requests, offset
    while time.perf_counter() < until and budget[0] != 0:
        budget[0] -= 1
        request = pool[i % len(pool)]
        i += 1
        started = time.perf_counter()
        try:
            status, keep_alive = await _exchange(reader, writer, request)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            status, keep_alive = 0, False
        if status == 200:
            result.latencies.append(time.perf_counter() - started)
        else:
            result.errors += 1
        if not keep_alive:
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    return reader, writer


async def measure(
    server: Server, concurrency: int, *, seconds: float, requests: int | None, warmup: int
) -> Result:
    """Warm up, then send requests from ``concurrency`` connections for a time or a count."""
    spread = len(server.requests) // concurrency or 1
    connections = await asyncio.gather(
        *(asyncio.open_connection("127.0.0.1", server.port) for _ in range(concurrency))
    )
    try:
        # Warm-up (discarded): the connections' first requests, and the server's caches.
        scratch = Result(server.name, concurrency, [], 0, 0.0)
        connections = await asyncio.gather(
            *(
                _send(
                    server, connection, offset=c * spread, until=math.inf,
                    budget=[warmup // concurrency + 1], result=scratch,
                )
                for c, connection in enumerate(connections)
            )
        )  # fmt: skip
        result = Result(server.name, concurrency, [], 0, 0.0)
        budget = [requests if requests is not None else -1]  # -1: no count, only the time
        until = math.inf if requests is not None else time.perf_counter() + seconds
        started = time.perf_counter()
        connections = await asyncio.gather(
            *(
                _send(
                    server, connection, offset=c * spread, until=until, budget=budget,
                    result=result,
                )
                for c, connection in enumerate(connections)
            )
        )  # fmt: skip
        result.elapsed = time.perf_counter() - started
    finally:
        for _, writer in connections:
            writer.close()
    result.errors += scratch.errors
    result.warmup_ok = len(scratch.latencies)
    return result


def check_once(ours: Server, theirs: Server, body: dict, row: list, token: str) -> tuple[str, str]:
    """One request to each, before timing: both must answer 200 with the same probabilities."""
    from features.engineering import FEATURE_NAMES

    answer = httpx.post(
        f"http://127.0.0.1:{ours.port}{RISK_PATH}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    if answer.status_code != 200:
        fail(ours, f"answered {answer.status_code} to the check request: {answer.text[:500]}")
    mlflow_answer = httpx.post(
        f"http://127.0.0.1:{theirs.port}/invocations",
        json={"dataframe_split": {"columns": list(FEATURE_NAMES), "data": [row]}},
        timeout=30,
    )
    if mlflow_answer.status_code != 200:
        fail(theirs, f"answered {mlflow_answer.status_code}: {mlflow_answer.text[:500]}")
    mine = answer.json()
    (prediction,) = mlflow_answer.json()["predictions"]
    ours_p = (mine["dropout"]["probability"], mine["poor_outcome"]["probability"])
    theirs_p = (prediction["dropout_probability"], prediction["poor_outcome_probability"])
    same = all(abs(a - b) < 1e-4 for a, b in zip(ours_p, theirs_p, strict=True))
    factors = len(mine["dropout"]["factors"]) + len(mine["poor_outcome"]["factors"])
    return (
        f"ours: dropout {ours_p[0]:.4f}, poor outcome {ours_p[1]:.4f}, {factors} factors, "
        f"{len(mine['signals'])} signals",
        f"mlflow: dropout {theirs_p[0]:.4f}, poor outcome {theirs_p[1]:.4f}"
        + ("" if same else "  <-- DIFFERENT from ours"),
    )


# --- the report -----------------------------------------------------------------------------


def print_table(results: list[Result]) -> None:
    rounds = len({r.round for r in results})
    if rounds > 1:
        print(
            f"{rounds} rounds pooled: percentiles over every round's requests, req/s over "
            "their summed time; ratios are per round, their median first"
        )
    print("| server | concurrency | requests | errors | p50 ms | p95 ms | p99 ms | req/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in pooled(results).values():
        print(
            f"| {r.server} | {r.concurrency} | {len(r.latencies):,} | {r.errors} | "
            f"{r.percentile_ms(50):.2f} | {r.percentile_ms(95):.2f} | {r.percentile_ms(99):.2f} | "
            f"{r.throughput:,.0f} |"
        )
    print()
    for concurrency in dict.fromkeys(r.concurrency for r in results):
        words = [
            f"ours / {peer} = {ratio_words(found)}"
            for peer in PEERS
            if (found := ratios(results, peer, concurrency))
        ]
        print(f"- concurrency {concurrency}: throughput " + ", ".join(words))


def print_targets(results: list[Result]) -> None:
    """The issue's targets, against this run's figures (with rounds: pooled percentiles,
    median ratios)."""
    by_key = pooled(results)
    lines = []
    if ("ours", 1) in by_key:
        one = by_key[("ours", 1)]
        lines.append(
            f"ours at 1 connection: p50 {one.percentile_ms(50):.2f} ms (target <= 3), "
            f"p99 {one.percentile_ms(99):.2f} ms (target <= 15)"
        )
    for peer, concurrency, target in (("mlflow", 1, 5), ("mlflow", 16, 10), ("mlserver", 16, 0.5)):
        if (median := median_ratio(results, peer, concurrency)) is not None:
            lines.append(f"ours / {peer} at {concurrency}: {median:.2f}x (target >= {target}x)")
    print("\ntargets:\n" + "\n".join(f"- {line}" for line in lines))


def audit_rows(url: str) -> int | None:
    """Assessments in our audit database (None when it was never created)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM assessments")).scalar_one()
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tracking-uri",
        help="MLflow store holding a champion of 'dropout-risk' (default: train a quick one "
        "into a temporary SQLite store)",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes per server")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=10.0, help="per server and level")
    parser.add_argument("--requests", type=int, help="a count per run instead of --seconds")
    parser.add_argument("--warmup", type=int, default=50, help="requests before each run")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="passes over every level and server; ratios are taken within each pass and "
        "their median reported, percentiles over all passes' requests (for noisy machines)",
    )
    parser.add_argument("--log-level", choices=["WARNING", "INFO"], default="WARNING")
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=12, help="of the requests' clients")
    parser.add_argument(
        "--mlserver-python",
        help="Python of an environment with MLServer 1.7.1 and mlserver-xgboost (see "
        "bench/mlserver_peer.py): adds MLServer serving the dropout booster alone as a peer",
    )
    parser.add_argument(
        "--bentoml-python",
        help="Python of an environment with BentoML 1.4 and XGBoost (see bench/bentoml_peer.py):"
        " adds BentoML serving the dropout booster alone as a peer",
    )
    parser.add_argument(
        "--database-url",
        help="our audit database (default: SQLite under a temporary data directory), e.g. "
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    )
    options = parser.parse_args()
    if options.rounds < 1:
        parser.error("--rounds must be at least 1")

    load_before = os.getloadavg()
    started = time.perf_counter()
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="bench-service-") as scratch:
        root = Path(scratch)
        try:
            if options.tracking_uri:
                tracking_uri = options.tracking_uri
            else:
                print("training and registering a quick model (4,000 synthetic clients) ...")
                tracking_uri = train_and_register(root / "registry")
            version = champion_version(tracking_uri)
            trained = time.perf_counter()
            bodies, rows = request_pool(POOL_SIZE, options.seed)
            audit_url = options.database_url or f"sqlite:///{root / 'service' / 'audit.db'}"
            stored_before = audit_rows(audit_url) or 0
            servers, token = start_servers(root, tracking_uri, version, options)
            ours, theirs = servers[:2]
            for server in servers:
                wait_until_ready(server, READY_PATHS[server.name], options.startup_timeout)
            ready = time.perf_counter()
            checks = check_once(ours, theirs, bodies[0], rows[0], token)
            _encode_pools(servers, bodies, rows, token)

            results: list[Result] = []
            with asyncio.Runner(loop_factory=loop_factory()) as runner:
                for round_ in range(options.rounds):
                    for concurrency in options.concurrency:
                        for server in servers:  # alternate: ours, mlflow, (peers,) ours, ...
                            result = runner.run(
                                measure(
                                    server,
                                    concurrency,
                                    seconds=options.seconds,
                                    requests=options.requests,
                                    warmup=options.warmup,
                                )
                            )
                            result.round = round_
                            results.append(result)
            load_after = os.getloadavg()
        finally:
            for server in servers:
                stop(server)
        stored = (audit_rows(audit_url) or 0) - stored_before
        answered = 1 + sum(  # the check request, the warm-ups and the measured requests
            len(r.latencies) + r.warmup_ok for r in results if r.server == "ours"
        )

    print()
    print(machine_line(load_before, load_after))
    print(
        "client (one asyncio thread) and both servers share these cores; "
        f"workers per server: {options.workers}; log level: {options.log_level}; "
        f"model version {version}; {len(bodies)} request bodies, 1-5 sessions each"
    )
    print(
        f"setup: model {trained - started:.0f} s, servers ready {ready - trained:.0f} s; "
        f"whole run {time.perf_counter() - started:.0f} s"
    )
    print(f"check request: {checks[0]}; {checks[1]}")
    if stored_before:
        # The server's monitoring check reads the trailing 30 days at start-up, in its own
        # thread: with many records it competes with the first measurements.
        print(
            f"the audit database held {stored_before:,} assessments before the run, which the "
            "server's start-up monitoring check read while it was measured; an empty "
            "database gives figures comparable between runs"
        )
    print(
        f"audit rows committed by ours: {stored}; 200 answers it sent: {answered} "
        f"(warm-ups included){'' if stored == answered else '  <-- NOT EQUAL'}"
    )
    print()
    print_table(results)
    print_targets(results)


def start_servers(
    root: Path, tracking_uri: str, version: str, options: argparse.Namespace
) -> tuple[list[Server], str]:
    """Start ours and mlflow's on free ports; return them and our server's API token."""
    from service.security import Scope, new_token

    token, entry = new_token(name="bench", scopes={Scope.RISK_WRITE}, all_clinics=True)
    quiet = options.log_level == "WARNING"
    unset = ("DATABASE_URL", "MLFLOW_TRACKING_URI")
    base = {name: value for name, value in os.environ.items() if name not in unset}
    base["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}"
    ours_env = (
        base
        | {
            "DROPOUT_RISK_DATA_DIR": str(root / "service"),
            "MLFLOW_TRACKING_URI": tracking_uri,
            "DROPOUT_RISK_API_TOKENS": json.dumps([entry.model_dump(mode="json")]),
            "DROPOUT_RISK_LOG_LEVEL": options.log_level,
        }
        | ({"DATABASE_URL": options.database_url} if options.database_url else {})
    )
    # `mlflow models serve` runs the uvicorn command line, which reads UVICORN_* variables.
    mlflow_env = base | {
        "MLFLOW_TRACKING_URI": tracking_uri,
        "UVICORN_ACCESS_LOG": "false" if quiet else "true",
        "UVICORN_LOG_LEVEL": options.log_level.lower(),
    }
    workers = str(options.workers)
    port = free_port()
    ours = start(
        "ours",
        # The demo's model (`make serve`) is trained on synthetic clients, as is the quick one.
        [sys.executable, "-m", "cli", "serve", "--port", str(port), "--workers", workers]
        + ["--allow-synthetic-model"],
        ours_env,
        root / "ours.log",
        port,
    )
    servers = [ours]
    mlflow_port = free_port()
    servers.append(
        start(
            "mlflow",
            [
                sys.executable,
                "-m",
                "mlflow",
                "models",
                "serve",
                "-m",
                f"models:/{MODEL_NAME}/{version}",
                "--env-manager",
                "local",
                "-p",
                str(mlflow_port),
                "-w",
                workers,
                "--host",
                "127.0.0.1",
            ],  # fmt: skip
            mlflow_env,
            root / "mlflow.log",
            mlflow_port,
        )
    )
    if options.mlserver_python or options.bentoml_python:
        booster_path = _dropout_booster(root, tracking_uri, version)
        if options.mlserver_python:
            servers.append(_start_mlserver(root, booster_path, options.mlserver_python))
        if options.bentoml_python:
            servers.append(
                _start_bentoml(root, booster_path, options.bentoml_python, access_log=not quiet)
            )
    return servers, token


def _dropout_booster(root: Path, tracking_uri: str, version: str) -> Path:
    """The version's dropout booster, saved by XGBoost for the peers that serve it alone."""
    from models.registry_store import RegistryLocation, download_model

    model = download_model(RegistryLocation(mlflow_tracking_uri=tracking_uri), version)
    booster_path = root / "dropout.ubj"
    model.dropout.booster.save_model(booster_path)
    return booster_path


def _start_bentoml(root: Path, booster_path: Path, python: str, *, access_log: bool) -> Server:
    port = free_port()
    directory = bentoml_peer.write_service(root / "bentoml")
    return start(
        "bentoml",
        bentoml_peer.command(python, directory, port=port),
        bentoml_peer.environment(booster_path, access_log=access_log),
        root / "bentoml.log",
        port,
    )


def _start_mlserver(root: Path, booster_path: Path, python: str) -> Server:
    ports = (free_port(), free_port(), free_port())
    repository = mlserver_peer.write_repository(
        root / "mlserver", booster_path=booster_path, ports=ports
    )
    return start(
        "mlserver",
        mlserver_peer.command(python, repository),
        {name: value for name, value in os.environ.items() if not name.startswith("MLSERVER")},
        root / "mlserver.log",
        ports[0],
    )


def _encode_pools(servers: list[Server], bodies: list, rows: list, token: str) -> None:
    from features.engineering import FEATURE_NAMES

    columns = list(FEATURE_NAMES)
    for server in servers:
        if server.name == "ours":
            auth = {"Authorization": f"Bearer {token}"}
            server.requests = [encode(server.port, RISK_PATH, body, auth) for body in bodies]
        elif server.name == "mlflow":
            server.requests = [
                encode(
                    server.port,
                    "/invocations",
                    {"dataframe_split": {"columns": columns, "data": [row]}},
                    {},
                )
                for row in rows
            ]
        else:
            peer = {"mlserver": mlserver_peer, "bentoml": bentoml_peer}[server.name]
            server.requests = [encode(server.port, peer.PATH, peer.body(row), {}) for row in rows]


if __name__ == "__main__":
    main()
