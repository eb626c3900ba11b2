"""Fixtures of the hostile-traffic tests: the service behind a real HTTP server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.servers import serve_in_thread


@pytest.fixture
def over_http(registry, make_settings, tmp_path) -> Iterator[httpx.Client]:
    """The service behind a real uvicorn on a free port, and an HTTP client of it."""
    from service.app import create_app

    settings = make_settings(
        tracking_uri=registry.tracking_uri, database_url=f"sqlite:///{tmp_path / 'audit.db'}"
    )
    app = create_app(settings)
    with (
        serve_in_thread(app, log_config=None) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client
