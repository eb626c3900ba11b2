"""Fixtures of the CDS Hooks tests: a fake EHR on loopback, the app trusting it, a CDS client.

The app is served in-process at ``public_base_url`` (so the URL the client calls is the
audience its JWTs name); the fake EHR's FHIR server runs over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.cds.prefetch import SERVICE_ID
from tests.service.cds.ehr import FakeEhr, serve
from tests.service.fhir.bundles import client_bundle, cohort_cases, json_request

BASE_URL = "http://127.0.0.1:8000"
"""The service's public_base_url in these tests (never listened on: TestClient is in-process)."""


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


#: The synthetic cohort's clinics (and api.md's example clinic): the fake EHR speaks for them.
EHR_CLINICS = ["north", *(f"clinic{c:02d}" for c in range(1, 41))]


def issuer(ehr: FakeEhr, **changes: Any) -> dict[str, Any]:
    """The service's trust entry for ``ehr``: inline JWKS, its jku allowed, its clinics and
    its FHIR server (on loopback: the app is started with private addresses allowed)."""
    return {
        "iss": ehr.iss,
        "jwks": ehr.jwks(),
        "jku_allowed": [ehr.jku],
        "clinics": EHR_CLINICS,
        "fhir_servers": [f"{ehr.base_url}/fhir"],
    } | changes


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


class CdsClient:
    """The EHR's CDS client: signs a fresh JWT for each call, with the endpoint as audience."""

    def __init__(self, http: TestClient, ehr: FakeEhr) -> None:
        self.http = http
        self.ehr = ehr

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (what the token's aud must be)."""
        return f"{BASE_URL}{path}"

    def discover(self, *, signed: bool = True) -> httpx.Response:
        """GET the discovery document, with a token unless ``signed`` is False."""
        headers = self._bearer(self.ehr.token(self.url("/cds-services"))) if signed else {}
        return self.http.get("/cds-services", headers=headers)

    def call(
        self, body: dict[str, Any], *, token: str | None = None, service: str = SERVICE_ID
    ) -> httpx.Response:
        """POST a hook call (``token`` replaces the properly signed one)."""
        path = f"/cds-services/{service}"
        return self.http.post(
            path, json=body, headers=self._bearer(token or self.ehr.token(self.url(path)))
        )

    def feedback(
        self, items: list[dict[str, Any]], *, service: str = SERVICE_ID
    ) -> httpx.Response:
        """POST feedback items."""
        path = f"/cds-services/{service}/feedback"
        token = self.ehr.token(self.url(path))
        return self.http.post(path, json={"feedback": items}, headers=self._bearer(token))

    @staticmethod
    def _bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def cds(app, ehr) -> CdsClient:
    """A CDS client of the fake EHR calling the app."""
    return CdsClient(app, ehr)


def hook_body(
    ehr: FakeEhr,
    patient_id: str,
    *,
    prefetch: dict[str, Any] | None = None,
    fhir: bool = False,
    access_token: str | None = None,
) -> dict[str, Any]:
    """A patient-view call for ``patient_id``, with prefetch and/or FHIR server access."""
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/t00001", "patientId": patient_id},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    if fhir:
        body["fhirServer"] = f"{ehr.base_url}/fhir"
        body["fhirAuthorization"] = {
            "access_token": access_token or ehr.access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/Patient.read user/Observation.read user/Encounter.read",
            "subject": "dropout-risk",
        }
    return body


def load_case(ehr: FakeEhr, case: tuple[dict[str, Any], list[dict[str, Any]]], sessions: int):
    """Put a client with its first ``sessions`` sessions on the EHR; return its JSON body."""
    client, rows = case
    ehr.load(client_bundle(client, rows[:sessions]))
    return json_request(client, rows[:sessions])
