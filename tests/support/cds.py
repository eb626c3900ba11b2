"""A CDS Hooks client of the fake EHR, and the hook calls it makes, for the CDS tests.

The app is served in-process at :data:`BASE_URL` (so the URL the client calls is the
audience its JWTs name); the fake EHR (:mod:`tests.support.fake_ehr`) signs the JWTs.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

from service.cds.prefetch import SERVICE_ID
from tests.support.fake_ehr import FakeEhr
from tests.support.fhir_bundles import client_bundle, json_request
from tests.support.tokens import bearer

BASE_URL = "http://127.0.0.1:8000"
"""The service's public_base_url in these tests (never listened on: TestClient is in-process)."""


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
        headers = bearer(self.ehr.token(self.url("/cds-services"))) if signed else {}
        return self.http.get("/cds-services", headers=headers)

    def call(
        self, body: dict[str, Any], *, token: str | None = None, service: str = SERVICE_ID
    ) -> httpx.Response:
        """POST a hook call (``token`` replaces the properly signed one)."""
        path = f"/cds-services/{service}"
        return self.http.post(
            path, json=body, headers=bearer(token or self.ehr.token(self.url(path)))
        )

    def feedback(
        self, items: list[dict[str, Any]], *, service: str = SERVICE_ID
    ) -> httpx.Response:
        """POST feedback items."""
        path = f"/cds-services/{service}/feedback"
        token = self.ehr.token(self.url(path))
        return self.http.post(path, json={"feedback": items}, headers=bearer(token))


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
