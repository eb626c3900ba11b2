"""Fixtures of the hostile-traffic tests: the service behind a real HTTP server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn


@pytest.fixture
def over_http(registry, make_settings, tmp_path) -> Iterator[httpx.Client]:
    """The service behind a real uvicorn on a free port, and an HTTP client of it."""
    from service.app import create_app

    settings = make_settings(
        tracking_uri=registry.tracking_uri, database_url=f"sqlite:///{tmp_path / 'audit.db'}"
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.05)
    (port,) = {s.getsockname()[1] for srv in server.servers for s in srv.sockets}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=30)
