"""Authenticating the EHR: the JWT it signs for every CDS Hooks call (CDS Hooks 2.0 §security).

Checked, in order: the header's ``alg`` is asymmetric and on our hard-coded list (never
``none``, never HMAC, never taken from the token alone); a ``kid`` names the key; ``iss`` is
a trusted issuer; the key comes from the issuer's configured JWK Set or from an allow-listed
``jku`` (:mod:`service.cds.keys`) and fits the algorithm; the signature verifies; ``aud``
is exactly the endpoint invoked; ``exp``, ``iat`` and ``jti`` are present, the token is
unexpired, not issued in the future and not longer-lived than configured; ``tenant`` is
allowed where the issuer lists tenants; and ``jti`` was not used before (the replay store
keeps it until the token expires). Every failure is one :class:`EhrUnauthorizedError`,
which the route answers with the same bare 401: the caller learns nothing of the reason,
the log learns it without the token.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import anyio.to_thread
import jwt

from service.cds.keys import KeyRing

ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
"""The signature algorithms accepted: asymmetric only (CDS Hooks recommends ES384, RS384)."""
CLOCK_SKEW_SECONDS = 30
"""Leeway for the EHR's clock on ``exp``, ``iat`` and ``nbf``."""
_REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "jti"]
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_MAX_ID_LENGTH = 256  # kid and jti: longer ones are not ids but payloads


class EhrUnauthorizedError(Exception):
    """The EHR's token was refused; ``reason`` and ``facts`` are for the log, not the caller."""

    def __init__(self, reason: str, **facts: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.facts = {k: _loggable(v) for k, v in facts.items() if v is not None}


@dataclass(frozen=True)
class EhrCaller:
    """An authenticated record system: who it is, and which token (by ``jti``) it used."""

    iss: str
    jti: str
    kid: str
    tenant: str | None = field(default=None)
    clinics: frozenset[str] = field(default=frozenset())
    """The clinics its records may name (the issuer's, or its tenant's, as configured)."""
    fhir_servers: tuple[str, ...] = field(default=())
    """The FHIR servers it may lend us a token for (``fhirServer`` is refused otherwise)."""

    @property
    def name(self) -> str:
        """Who called, as stored with what it wrote: the issuer, and its tenant if any."""
        return self.iss if self.tenant is None else f"{self.iss}#{self.tenant}"

    def allows_fhir_server(self, url: str) -> bool:
        """Whether ``url`` is one of its FHIR servers (or below one)."""
        url = url.rstrip("/")
        return any(
            url == allowed.rstrip("/") or url.startswith(allowed.rstrip("/") + "/")
            for allowed in self.fhir_servers
        )


class ReplayStore(Protocol):
    """Remembers token ids until their tokens expire (``AuditStore.token_ids`` is one)."""

    def remember_token_id(self, *, iss: str, jti: str, expires_at: datetime) -> bool:
        """Store ``(iss, jti)``; False when it was already stored (a replay)."""
        ...


class EhrAuthenticator:
    """Verifies EHR JWTs against the trusted issuers' keys and the replay store."""

    def __init__(self, keys: KeyRing, replay: ReplayStore, *, max_lifetime_seconds: int) -> None:
        """Check keys with ``keys``, jtis with ``replay``; refuse tokens living longer."""
        self._keys = keys
        self._replay = replay
        self._max_lifetime = max_lifetime_seconds

    async def verify(self, token: str, *, audience: str) -> EhrCaller:
        """The caller a token proves, for the endpoint at the absolute URL ``audience``.

        Raises:
            EhrUnauthorizedError: The token fails any check (see the module docstring).
            service.audit.AuditUnavailableError: The replay store could not be written.
        """
        header = _header(token)
        alg, kid, jku = header["alg"], header["kid"], header.get("jku")
        iss = _unverified_issuer(token)
        issuer = self._keys.issuer(iss)
        if issuer is None:
            raise EhrUnauthorizedError("unknown issuer", iss=iss, kid=kid)
        if jku is not None and jku not in issuer.jku_allowed:
            raise EhrUnauthorizedError("jku not allowed for the issuer", iss=iss, kid=kid)
        jwk = await self._keys.key(issuer, kid, jku)
        if jwk is None:
            raise EhrUnauthorizedError("no key for kid", iss=iss, kid=kid)
        key = key_for(jwk, alg, iss=iss, kid=kid)
        claims = _verified_claims(token, key, alg, audience=audience, iss=iss)
        jti = claims["jti"]
        facts = {"iss": iss, "kid": kid, "jti": jti}
        if not isinstance(jti, str) or not 0 < len(jti) <= _MAX_ID_LENGTH:
            raise EhrUnauthorizedError("jti is not a short string", iss=iss, kid=kid)
        if not all(_is_number(claims[name]) for name in ("exp", "iat")):
            raise EhrUnauthorizedError("exp or iat is not a number", **facts)
        if claims["exp"] - claims["iat"] > self._max_lifetime:
            raise EhrUnauthorizedError("token lifetime too long", **facts)
        tenant = claims.get("tenant")
        if issuer.tenants is not None and tenant not in issuer.tenants:
            raise EhrUnauthorizedError("tenant not allowed", tenant=tenant, **facts)
        expires_at = datetime.fromtimestamp(claims["exp"], UTC) + timedelta(
            seconds=CLOCK_SKEW_SECONDS
        )
        remember = functools.partial(
            self._replay.remember_token_id, iss=iss, jti=jti, expires_at=expires_at
        )
        if not await anyio.to_thread.run_sync(remember):
            raise EhrUnauthorizedError("jti replayed", **facts)
        return EhrCaller(
            iss=iss,
            jti=jti,
            kid=kid,
            tenant=tenant,
            clinics=issuer.clinics_of(tenant),
            fhir_servers=issuer.fhir_servers,
        )


def _header(token: str) -> dict[str, Any]:
    """The token's header, once its ``alg``, ``typ``, ``kid`` and ``jku`` are acceptable."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise EhrUnauthorizedError("malformed token") from None
    kid = header.get("kid")
    if header.get("alg") not in ALGORITHMS:
        raise EhrUnauthorizedError("algorithm not allowed", alg=header.get("alg"), kid=kid)
    if str(header.get("typ", "JWT")).upper() != "JWT":
        raise EhrUnauthorizedError("typ is not JWT", kid=kid)
    if not isinstance(kid, str) or not 0 < len(kid) <= _MAX_ID_LENGTH:
        raise EhrUnauthorizedError("no usable kid")
    if not isinstance(header.get("jku", ""), str):
        raise EhrUnauthorizedError("jku is not a string", kid=kid)
    return header


def _unverified_issuer(token: str) -> str:
    """The ``iss`` the token claims, read only to choose the key that will check it."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise EhrUnauthorizedError("malformed token") from None
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss:
        raise EhrUnauthorizedError("no iss")
    return iss


def key_for(jwk: dict[str, Any], alg: str, *, iss: str, kid: str) -> jwt.PyJWK:
    """``jwk`` bound to ``alg``, refusing a key of another type, curve or declared algorithm.

    Also checks SMART id_tokens (:mod:`service.smart.tokens`).

    Raises:
        EhrUnauthorizedError: The key does not fit ``alg`` or cannot be loaded.
    """
    fits = (
        jwk.get("kty") == "EC" and jwk.get("crv") == _EC_CURVES.get(alg)
        if alg.startswith("ES")
        else jwk.get("kty") == "RSA"
    )
    if not fits or jwk.get("alg", alg) != alg:
        raise EhrUnauthorizedError("key does not fit the algorithm", iss=iss, kid=kid, alg=alg)
    try:
        return jwt.PyJWK(jwk, algorithm=alg)
    except jwt.PyJWTError:
        raise EhrUnauthorizedError("key cannot be loaded", iss=iss, kid=kid) from None


def _verified_claims(
    token: str, key: jwt.PyJWK, alg: str, *, audience: str, iss: str
) -> dict[str, Any]:
    """The claims, once signature, audience, issuer and times have been checked."""
    try:
        return jwt.decode(
            token,
            key=key,
            algorithms=[alg],
            audience=audience,
            issuer=iss,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": _REQUIRED_CLAIMS, "enforce_minimum_key_length": True},
        )
    except jwt.PyJWTError as error:
        # PyJWT's exception type names the check that failed (expired, audience, ...).
        raise EhrUnauthorizedError(f"refused by PyJWT: {type(error).__name__}") from None


def _is_number(value: Any) -> bool:
    """A JSON number (PyJWT also accepts numeric strings, which arithmetic would not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _loggable(value: Any) -> str:
    """A claim or header value, shortened: it comes from an unauthenticated caller."""
    return str(value)[:200]
