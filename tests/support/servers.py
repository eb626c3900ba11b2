"""Servers for tests and benches: a real ``dropout-risk serve`` process, configured only
through its environment, and an ASGI app served by uvicorn in a thread of the test process.

The process runs in a session (process group) of its own, so that :meth:`Server.kill` can
SIGKILL uvicorn's supervisor and every worker at once, as a crash or the OOM killer would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from service.security import TokenEntry
from tests.support.polling import wait_until


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A running ``dropout-risk serve`` process and an HTTP client of it."""

    def __init__(self, process: subprocess.Popen, base_url: str, log: Path) -> None:
        self.process = process
        self.base_url = base_url
        self.port = int(base_url.rsplit(":", 1)[1])
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.log = log
        self.started = time.monotonic()  # made right after the process was

    def log_lines(self) -> list[dict]:
        """The JSON lines the process has written so far (a line still being written is not
        one yet: this may be polled while the server logs)."""
        return [
            json.loads(line)
            for line in self.log.read_text().splitlines(keepends=True)
            if line[:1] == "{" and line.endswith("\n")
        ]

    def wait_until_ready(self, timeout: float = 120.0) -> float:
        """Poll ``/ready`` until it answers 200; return the seconds since the process started.

        Raises:
            AssertionError: The process exited, or was not ready in time (with its log).
        """

        def ready() -> bool:
            assert self.process.poll() is None, self.log.read_text()
            try:
                return self.http.get("/ready", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout, interval=0.1, what=self.log.read_text)
        return time.monotonic() - self.started

    def kill(self) -> None:
        """SIGKILL the whole process group (supervisor and workers) and reap the supervisor."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM (a graceful shutdown); SIGKILL the group if it does not end in 30 s."""
        self.http.close()
        if self.process.poll() is not None:
            self._kill_stragglers()
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
        self._kill_stragglers()

    def _kill_stragglers(self) -> None:
        # Workers orphaned by a supervisor that died first must not outlive the test.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


def start_server(
    *,
    directory: Path,
    tracking_uri: str,
    database_url: str,
    tokens: list[TokenEntry],
    extra_environment: dict[str, str] | None = None,
    workers: int = 1,
    log_name: str = "server.log",
) -> Server:
    """Start ``dropout-risk serve`` on a free port, data under ``directory / "data"``.

    Returns at once; see :meth:`Server.wait_until_ready`. Starting again with the same
    ``directory`` (and another ``log_name``) restarts the service on the same data.
    """
    port = free_port()
    environment = (
        {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DROPOUT_RISK_", "MLFLOW_")) and key != "DATABASE_URL"
        }
        | {
            "DROPOUT_RISK_DATA_DIR": str(directory / "data"),
            "MLFLOW_TRACKING_URI": tracking_uri,
            "DATABASE_URL": database_url,
            "DROPOUT_RISK_API_TOKENS": json.dumps([e.model_dump(mode="json") for e in tokens]),
            "DROPOUT_RISK_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        }
        | (extra_environment or {})
    )
    log = directory / log_name
    command = [sys.executable, "-m", "cli", "serve", "--port", str(port)]
    with log.open("w") as sink:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            env=environment,
            cwd=directory,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Server(process, f"http://127.0.0.1:{port}", log)


@contextmanager
def running_server(
    *,
    directory: Path,
    tracking_uri: str,
    database_url: str,
    tokens: list[TokenEntry],
    extra_environment: dict[str, str] | None = None,
    workers: int = 1,
) -> Iterator[Server]:
    """Start ``dropout-risk serve`` on a free port; yield once ``/ready`` answers 200."""
    server = start_server(
        directory=directory,
        tracking_uri=tracking_uri,
        database_url=database_url,
        tokens=tokens,
        extra_environment=extra_environment,
        workers=workers,
    )
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


@contextmanager
def serve_in_thread(app: Any, *, timeout: float = 60.0, **config: Any) -> Iterator[str]:
    """Serve the ASGI ``app`` with uvicorn in a thread, on a free loopback port.

    Args:
        app: The application.
        timeout: Seconds to wait for uvicorn to start.
        **config: More :class:`uvicorn.Config` options (``log_config``, ``lifespan``...).

    Yields:
        The base URL, once uvicorn has started; it is stopped when the block ends.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    host, port = listener.getsockname()
    server = uvicorn.Server(uvicorn.Config(app, **config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: server.started or not thread.is_alive(), timeout, what="uvicorn to start"
        )
        assert server.started, "uvicorn stopped before it started serving"
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()
