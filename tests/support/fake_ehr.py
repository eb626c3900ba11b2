"""A scripted record system for the CDS Hooks tests: its FHIR server, its keys, its JWTs.

:class:`FakeEhr` holds synthetic clients' resources and serves them as a small FHIR server
(reads, and searches by patient, code and status, paged through ``link[next]``), only to
the bearer token it lent; it also publishes its JWK Set. It signs its JWTs with its own
EC P-384 key (ES384), as CDS Hooks recommends. :func:`serve` runs it on a loopback port
with uvicorn in a thread, so the service under test reaches it over real HTTP.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service.cds.prefetch import PREFETCH, render
from tests.support.servers import serve_in_thread

ISSUER = "https://ehr.example.org"
FHIR_JSON = "application/fhir+json"


class FakeEhr:
    """One record system: a signing key, a FHIR server's resources, a lent access token."""

    def __init__(self, *, iss: str = ISSUER, kid: str = "ehr-es384-1") -> None:
        self.iss = iss
        self._own_key = (ec.generate_private_key(ec.SECP384R1()), kid)
        self.base_url = ""  # set by serve()
        self.page_size = 3  # small, so that every search is paged
        self.reset()

    def reset(self) -> None:
        """Back to our first key, published; no resources, no requests seen, a new token."""
        self.private_key, self.kid = self._own_key
        self.published_keys: list[dict[str, Any]] = [self.public_jwk()]
        self.resources: list[dict[str, Any]] = []
        self.seen: list[str] = []
        self.refused = 0
        self.jwks_fetches = 0
        self.access_token = secrets.token_urlsafe(24)
        self.delay = 0.0  # seconds the FHIR server takes per answer

    # --- keys and tokens ---------------------------------------------------------------

    def public_jwk(self, key: ec.EllipticCurvePrivateKey | None = None, kid: str | None = None):
        """The public JWK of ``key`` (default: our signing key)."""
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk((key or self.private_key).public_key()))
        return jwk | {"kid": kid or self.kid, "use": "sig", "alg": "ES384"}

    def rotate_key(self, kid: str) -> None:
        """Sign with a new key from now on, and publish only it."""
        self.private_key, self.kid = ec.generate_private_key(ec.SECP384R1()), kid
        self.published_keys = [self.public_jwk()]

    def jwks(self) -> dict[str, Any]:
        """Our JWK Set, as configured inline at the service."""
        return {"keys": [self.public_jwk()]}

    @property
    def jku(self) -> str:
        """Where we publish our JWK Set."""
        return f"{self.base_url}/jwks.json"

    def token(
        self,
        aud: str | list[str],
        *,
        key: Any = None,
        algorithm: str = "ES384",
        headers: dict[str, Any] | None = None,
        lifetime: int = 120,
        **claims: Any,
    ) -> str:
        """A JWT for ``aud``, signed by us unless ``key`` says otherwise; claims override."""
        now = int(time.time())
        payload = {
            "iss": self.iss,
            "aud": aud,
            "iat": now,
            "exp": now + lifetime,
            "jti": str(uuid.uuid4()),
        } | claims
        payload = {k: v for k, v in payload.items() if v is not None}
        header = {"kid": self.kid, "typ": "JWT"} | (headers or {})
        header = {k: v for k, v in header.items() if v is not None}
        return jwt.encode(payload, key or self.private_key, algorithm=algorithm, headers=header)

    # --- the record ----------------------------------------------------------------------

    def load(self, bundle: dict[str, Any]) -> None:
        """Add a Bundle's resources to what the FHIR server holds."""
        self.resources += [entry["resource"] for entry in bundle["entry"]]

    def prefetch(self, patient_id: str) -> dict[str, Any]:
        """What an EHR would prefetch for us: each template answered, as one searchset."""
        answers: dict[str, Any] = {}
        for key, template in PREFETCH.items():
            query = render(template, patient_id=patient_id)
            if "?" not in query:
                answers[key] = self._read(*query.split("/"))
                continue
            kind, _, text = query.partition("?")
            params = dict(part.split("=", 1) for part in text.split("&"))
            found = self._search(kind, params)
            answers[key] = _searchset(found, next_url=None)
        return answers

    def _read(self, kind: str, resource_id: str) -> dict[str, Any] | None:
        return next(
            (r for r in self.resources if r["resourceType"] == kind and r["id"] == resource_id),
            None,
        )

    def _search(self, kind: str, params: dict[str, str]) -> list[dict[str, Any]]:
        found = [r for r in self.resources if r["resourceType"] == kind]
        if "patient" in params:
            found = [r for r in found if _patient_of(r) == f"Patient/{params['patient']}"]
        if "code" in params:
            wanted = set(params["code"].split(","))
            found = [r for r in found if _codings(r) & wanted]
        if "status" in params:
            found = [r for r in found if r.get("status") == params["status"]]
        return found

    # --- the FHIR server -----------------------------------------------------------------

    def app(self) -> Starlette:
        """The ASGI app: ``/fhir/...`` (needs the lent token) and ``/jwks.json``."""
        return Starlette(
            routes=[
                Route("/jwks.json", self._publish_keys),
                Route("/fhir/{kind}/{resource_id}", self._serve_read),
                Route("/fhir/{kind}", self._serve_search),
            ]
        )

    async def _publish_keys(self, _request: Request) -> Response:
        self.jwks_fetches += 1
        return JSONResponse({"keys": self.published_keys})

    def _authorized(self, request: Request) -> bool:
        self.seen.append(
            str(request.url.path) + ("?" + request.url.query if request.url.query else "")
        )
        if request.headers.get("authorization") == f"Bearer {self.access_token}":
            return True
        self.refused += 1
        return False

    async def _serve_read(self, request: Request) -> Response:
        if not self._authorized(request):
            return _outcome(401, "login", "no valid bearer token")
        found = self._read(request.path_params["kind"], request.path_params["resource_id"])
        if found is None:
            return _outcome(404, "not-found", "no such resource")
        return JSONResponse(found, media_type=FHIR_JSON)

    async def _serve_search(self, request: Request) -> Response:
        await asyncio.sleep(self.delay)
        if not self._authorized(request):
            return _outcome(401, "login", "no valid bearer token")
        params = dict(request.query_params)
        offset = int(params.pop("_offset", "0"))
        count = min(int(params.get("_count", "100")), self.page_size)
        found = self._search(request.path_params["kind"], params)
        page = found[offset : offset + count]
        next_url = None
        if offset + count < len(found):
            query = urlencode(params | {"_offset": offset + count}, safe="|,:/")
            next_url = f"{self.base_url}/fhir/{request.path_params['kind']}?{query}"
        return JSONResponse(
            _searchset(page, next_url=next_url, total=len(found)), media_type=FHIR_JSON
        )


def _patient_of(resource: dict[str, Any]) -> str | None:
    if "subject" in resource:
        return resource["subject"].get("reference")
    if "patient" in resource:  # EpisodeOfCare
        return resource["patient"].get("reference")
    for participant in resource.get("participant", []):
        reference = participant.get("actor", {}).get("reference", "")
        if reference.startswith("Patient/"):
            return reference
    return None


def _codings(resource: dict[str, Any]) -> set[str]:
    return {f"{c['system']}|{c['code']}" for c in resource.get("code", {}).get("coding", [])}


def _searchset(
    resources: list[dict[str, Any]], *, next_url: str | None, total: int | None = None
) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources) if total is None else total,
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
    if next_url is not None:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def _outcome(status: int, code: str, text: str) -> Response:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


@contextmanager
def serve(ehr: FakeEhr) -> Iterator[FakeEhr]:
    """Run ``ehr``'s FHIR server on a free loopback port for the duration of the block."""
    with serve_in_thread(ehr.app(), timeout=10, log_level="warning", lifespan="off") as url:
        ehr.base_url = url
        yield ehr
