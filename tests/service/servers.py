"""A real ``dropout-risk serve`` process for tests, configured only through its environment."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from service.security import TokenEntry


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
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.log = log

    def log_lines(self) -> list[dict]:
        """The JSON lines the process has written so far."""
        return [json.loads(line) for line in self.log.read_text().splitlines() if line[:1] == "{"]


@contextmanager
def running_server(
    *,
    directory: Path,
    tracking_uri: str,
    database_url: str,
    tokens: list[TokenEntry],
    extra_environment: dict[str, str] | None = None,
) -> Iterator[Server]:
    """Start ``dropout-risk serve`` on a free port; yield once ``/ready`` answers 200."""
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
    log = directory / "server.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--port", str(port)],
            env=environment,
            cwd=directory,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if server.http.get("/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield server
    finally:
        server.http.close()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
