"""A scripted SMART authorization server for the launch tests: discovery, authorize, token
and JWK Set endpoints of one record system, with RS256 keys made here.

:class:`SmartEhr` plays the EHR's side of SMART App Launch 2 (EHR launch) strictly: its
authorize endpoint refuses a request missing any required parameter, and its token
endpoint refuses a wrong redirect_uri, client or PKCE verifier, a code used twice, and (for
a confidential client) an assertion not signed with the registered key. Tests change what
it signs: another key (a forged id_token), another audience, an expired token.
:func:`serve_smart_ehr` runs it with uvicorn in a thread on a loopback port, so the service
under test reaches it over real HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from service.smart.session import COOKIE_NAME
from tests.support.servers import serve_in_thread

#: Every parameter SMART App Launch 2 requires on the authorize request of an EHR launch.
AUTHORIZE_PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "launch",
    "scope",
    "state",
    "aud",
    "code_challenge",
    "code_challenge_method",
)
CLIENT_ID = "dropout-risk-test"


def rsa_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: Any) -> bytes:
    """A private ``key`` as an unencrypted PKCS#8 PEM (what ``private_key_file`` holds)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    """The public JWK of ``key`` (RS256, for signatures)."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return jwk | {"kid": kid, "use": "sig", "alg": "RS256"}


class SmartEhr:
    """One record system's authorization server and what it has seen."""

    def __init__(self) -> None:
        self.key, self.kid = rsa_key(), "ehr-rs256-1"
        self.base_url = ""  # set by serve_smart_ehr()
        self.reset()

    @property
    def iss(self) -> str:
        """The FHIR base URL: the ``iss`` of its launches and of its id_tokens."""
        return f"{self.base_url}/fhir"

    def reset(self) -> None:
        """No launches, codes or requests; honest id_tokens; a public client."""
        self.launches: dict[str, dict[str, str | None]] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.signing_key = self.key  # what the id_token is signed with
        self.id_token_claims: dict[str, Any] = {}  # overrides of its claims
        self.client_key: dict[str, Any] | None = None  # a confidential client's public JWK
        self.redirect_uri = ""
        self.discovery_changes: dict[str, Any] = {}  # members changed (None: left out)

    def launch(self, *, patient: str | None, user: str | None = "Practitioner/pr-7") -> str:
        """A launch handle whose context is ``patient`` and the clinician ``user``."""
        handle = secrets.token_urlsafe(12)
        self.launches[handle] = {"patient": patient, "user": user}
        return handle

    def configuration(self) -> dict[str, Any]:
        """Its ``.well-known/smart-configuration``."""
        return {
            "issuer": self.iss,
            "authorization_endpoint": f"{self.base_url}/authorize",
            "token_endpoint": f"{self.base_url}/token",
            "jwks_uri": f"{self.base_url}/jwks.json",
            "grant_types_supported": ["authorization_code"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
            "scopes_supported": ["openid", "fhirUser", "launch", "patient/*.rs"],
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "capabilities": [
                "launch-ehr",
                "client-public",
                "client-confidential-asymmetric",
                "context-ehr-patient",
                "sso-openid-connect",
            ],  # fmt: skip
        }

    def id_token(self, *, user: str | None, lifetime: int = 300) -> str:
        """The id_token of a launch: signed with :attr:`signing_key`, claims overridden."""
        now = int(time.time())
        claims = {
            "iss": self.iss,
            "sub": "user-1",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + lifetime,
            "fhirUser": user,
        } | self.id_token_claims
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.signing_key, algorithm="RS256", headers={"kid": self.kid})

    # --- the endpoints -----------------------------------------------------------------

    def app(self) -> Starlette:
        """The authorization server as an ASGI app."""
        return Starlette(
            routes=[
                Route("/fhir/.well-known/smart-configuration", self._discovery),
                Route("/authorize", self._authorize),
                Route("/token", self._token, methods=["POST"]),
                Route("/jwks.json", self._jwks),
            ]
        )

    async def _discovery(self, request: Request) -> Response:
        del request
        document = self.configuration() | self.discovery_changes
        return JSONResponse({k: v for k, v in document.items() if v is not None})

    async def _jwks(self, request: Request) -> Response:
        del request
        return JSONResponse({"keys": [public_jwk(self.key, self.kid)]})

    async def _authorize(self, request: Request) -> Response:
        query = dict(request.query_params)
        self.authorize_requests.append(query)
        missing = [name for name in AUTHORIZE_PARAMETERS if not query.get(name)]
        context = self.launches.get(query.get("launch", ""))
        if missing or context is None or query["client_id"] != CLIENT_ID:
            return JSONResponse({"error": "invalid_request", "missing": missing}, 400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"query": query, "context": context, "used": False}
        back = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        return RedirectResponse(back, status_code=302)

    async def _token(self, request: Request) -> Response:
        # Parsed by hand: Starlette's form parser needs python-multipart, not a dependency.
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        self.token_requests.append(form)
        grant = self.codes.get(form.get("code", ""))
        if grant is None or grant["used"] or form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "invalid_grant"}, 400)
        grant["used"] = True
        query = grant["query"]
        if form.get("redirect_uri") != query["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, 400)
        if form.get("client_id") != CLIENT_ID or not self._client_authenticated(form):
            return JSONResponse({"error": "invalid_client"}, 401)
        if _challenge(form.get("code_verifier", "")) != query["code_challenge"]:
            return JSONResponse({"error": "invalid_grant", "why": "pkce"}, 400)
        context = grant["context"]
        answer = {
            "access_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": query["scope"],
            "id_token": self.id_token(user=context["user"]),
        }
        if context["patient"] is not None:
            answer["patient"] = context["patient"]
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    def _client_authenticated(self, form: dict[str, str]) -> bool:
        """A public client needs nothing more; a confidential one a good assertion."""
        if self.client_key is None:
            return "client_assertion" not in form
        if form.get("client_assertion_type") != (
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ):
            return False
        try:
            claims = jwt.decode(
                form.get("client_assertion", ""),
                key=jwt.PyJWK(self.client_key),
                algorithms=["RS384", "ES384"],
                audience=f"{self.base_url}/token",
                issuer=CLIENT_ID,
                options={"require": ["iss", "sub", "aud", "exp", "jti"]},
            )
        except jwt.PyJWTError:
            return False
        return claims["sub"] == CLIENT_ID and claims["exp"] - time.time() <= 300


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@contextmanager
def serve_smart_ehr(ehr: SmartEhr) -> Iterator[SmartEhr]:
    """Run ``ehr`` on a free loopback port for the duration of the block."""
    with serve_in_thread(ehr.app(), timeout=10, log_level="warning", lifespan="off") as url:
        ehr.base_url = url
        yield ehr


def authorize(app: Any, *, iss: str, launch: str) -> httpx.Response:
    """The browser's first step: the EHR opens ``/smart/launch`` (no redirect followed)."""
    return app.get("/smart/launch", params={"iss": iss, "launch": launch}, follow_redirects=False)


def round_trip(
    app: Any, ehr: SmartEhr, *, launch: str, same_browser: bool = True
) -> httpx.Response:
    """A browser's whole launch: ``/smart/launch``, the EHR's authorize endpoint (over
    HTTP), then our callback (from another browser unless ``same_browser``); the
    callback's answer, its redirect not followed.

    Raises:
        AssertionError: A step before the callback did not redirect.
    """
    started = authorize(app, iss=ehr.iss, launch=launch)
    assert started.status_code == 302, started.text
    authorized = httpx.get(started.headers["location"], follow_redirects=False, timeout=10)
    assert authorized.status_code == 302, authorized.text
    # The launch's cookies are Secure, so the test client's jar would not send them over
    # plain HTTP (a browser does, to 127.0.0.1): they are carried by hand.
    app.cookies.clear()
    cookies = "; ".join(
        header.split(";", 1)[0] for header in started.headers.get_list("set-cookie")
    )
    headers = {"Cookie": cookies} if same_browser and cookies else {}
    return app.get(authorized.headers["location"], headers=headers, follow_redirects=False)


def session_cookie(answer: httpx.Response) -> tuple[str, str]:
    """The session cookie the callback set (its value, and its Set-Cookie header whole)."""
    (header,) = [h for h in answer.headers.get_list("set-cookie") if h.startswith(COOKIE_NAME)]
    value = header.split(";", 1)[0].split("=", 1)[1]
    return value, header
