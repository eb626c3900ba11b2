"""Fixtures of the CDS Hooks tests: a fake EHR on loopback, the app trusting it, a CDS client.

The app is served in-process at ``public_base_url`` (so the URL the client calls is the
audience its JWTs name); the fake EHR's FHIR server runs over real HTTP on 127.0.0.1. The
client, the hook calls and the fake EHR are in ``tests/support/`` (``cds``, ``fake_ehr``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.cds import BASE_URL, CdsClient, issuer
from tests.support.fake_ehr import FakeEhr, serve
from tests.support.fhir_bundles import cohort_cases


@pytest.fixture(scope="session")
def ehr_server() -> Iterator[FakeEhr]:
    """The fake EHR, serving for the whole session (reset before each test)."""
    with serve(FakeEhr()) as ehr:
        yield ehr


@pytest.fixture
def ehr(ehr_server: FakeEhr) -> FakeEhr:
    """The fake EHR with no resources, a fresh access token and its first key published."""
    ehr_server.reset()
    return ehr_server


@pytest.fixture(scope="session")
def cases(cohort) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """40 synthetic clients of the session cohort, as contract rows with all their sessions."""
    clients, sessions = cohort
    some = clients.iloc[:40]
    return cohort_cases(some, sessions[sessions["client_id"].isin(some["client_id"])])


@pytest.fixture
def start_app(registry, make_settings, tmp_path, ehr) -> Iterator[Callable[..., TestClient]]:
    """Start the app trusting ``ehr`` (settings may be changed); stopped after the test."""
    started: list[TestClient] = []

    def _start(**changes: Any) -> TestClient:
        from service.app import create_app

        options = {
            "database_url": f"sqlite:///{tmp_path / 'audit.db'}",
            "public_base_url": BASE_URL,
            "cds_issuers": [issuer(ehr)],
            "cds_low_risk_card": "info",
            "allow_private_addresses": True,  # the fake EHR's FHIR server is on loopback
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
def app(start_app) -> TestClient:
    """The app with the default CDS settings of these tests."""
    return start_app()


@pytest.fixture
def cds(app, ehr) -> CdsClient:
    """A CDS client of the fake EHR calling the app."""
    return CdsClient(app, ehr)
