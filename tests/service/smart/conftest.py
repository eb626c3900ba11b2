"""Fixtures of the SMART launch tests: the test authorization server on loopback, the app
registering it, and a way to store a patient's assessments.

The app is served in-process at ``public_base_url`` (so our redirect_uri is a URL the
TestClient answers); the authorization server (``tests/support/smart_ehr.py``) runs over
real HTTP on 127.0.0.1, so the app is started with private addresses allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.cds import BASE_URL
from tests.support.smart_ehr import CLIENT_ID, SmartEhr, serve_smart_ehr


@pytest.fixture(scope="session")
def smart_server() -> Iterator[SmartEhr]:
    """The test authorization server, serving for the whole session (reset per test)."""
    with serve_smart_ehr(SmartEhr()) as ehr:
        yield ehr


@pytest.fixture
def smart_ehr(smart_server: SmartEhr) -> SmartEhr:
    """The authorization server with no launches, honest id_tokens and a public client."""
    smart_server.reset()
    return smart_server


@pytest.fixture
def start_smart_app(registry, make_settings, tmp_path, smart_ehr):
    """Start the app registering ``smart_ehr`` for clinic ``north`` (settings may be
    changed); stopped after the test."""
    started: list[TestClient] = []

    def _start(**changes: Any) -> TestClient:
        from service.app import create_app

        options = {
            "database_url": f"sqlite:///{tmp_path / 'audit.db'}",
            "public_base_url": BASE_URL,
            "smart_clients": [
                {"iss": smart_ehr.iss, "client_id": CLIENT_ID, "clinics": ["north"]}
            ],
            "allow_private_addresses": True,
        } | changes
        settings = make_settings(tracking_uri=registry.tracking_uri, **options)
        client = TestClient(create_app(settings), base_url=BASE_URL)
        client.__enter__()
        started.append(client)
        return client

    yield _start
    for client in started:
        client.__exit__(None, None, None)


@pytest.fixture
def smart_app(start_smart_app) -> TestClient:
    """The app with the default SMART settings of these tests."""
    return start_smart_app()


@pytest.fixture
def assess(smart_app, tokens, example_request) -> Callable[..., str]:
    """Store an assessment of a client of a clinic (api.md's example, renamed) through
    ``app`` (default: :func:`smart_app`); its id."""

    def _assess(
        *, client_id: str, clinic_id: str = "north", sessions: int = 2, app: Any = None
    ) -> str:
        body = example_request | {
            "client": example_request["client"] | {"client_id": client_id, "clinic_id": clinic_id},
            "sessions": example_request["sessions"][:sessions],
        }
        answer = (app or smart_app).post(
            "/v1/risk-assessments", json=body, headers=tokens.header()
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["assessment_id"]

    return _assess
