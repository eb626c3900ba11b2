"""The record systems (CDS clients) this service trusts, as configured by the clinic.

Each trusted EHR is named by the ``iss`` its JWTs carry, with where its public keys come
from: a JWK Set given inline and/or the ``jku`` URLs its tokens may point at. Anything that
would weaken the check of its tokens is refused here, at start-up, not at the first call:
symmetric or private keys, keys without a ``kid``, plain-HTTP key URLs off this machine.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

import jwt
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: JWK members that only a private (or symmetric) key has: a configured JWK Set holding any
#: of them is a leaked secret, not a public key, and is refused.
_SECRET_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: Key types that can verify the asymmetric algorithms we accept (EC: ES*, RSA: RS*/PS*).
_KEY_TYPES = frozenset({"EC", "RSA"})
_LOOPBACK_NAMES = frozenset({"localhost"})


class CdsIssuer(BaseModel):
    """One trusted EHR: its ``iss``, its keys, and optionally the tenants it may speak for.

    Attributes:
        iss: The exact ``iss`` claim of its JWTs.
        jwks: Its public JWK Set, ``{"keys": [...]}``, exchanged out of band.
        jku_allowed: URLs its tokens may name in the ``jku`` header to have their key set
            fetched (and cached by ``kid``); a ``jku`` not listed here is refused.
        tenants: When given, its tokens must carry a ``tenant`` claim from this list.
        clinics: The clinics whose records it may send (a record naming another clinic is
            refused), unless its tenant is in ``tenant_clinics``.
        tenant_clinics: Per tenant (the JWT's ``tenant``), that tenant's clinics.
        fhir_servers: The FHIR servers (``fhirServer``, by URL prefix) the service may read
            with the token the EHR lends; any other is refused. Empty: none.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: str = Field(min_length=1, max_length=2048)
    jwks: dict[str, Any] | None = None
    jku_allowed: tuple[str, ...] = ()
    tenants: tuple[str, ...] | None = None
    clinics: tuple[str, ...] = ()
    tenant_clinics: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    fhir_servers: tuple[str, ...] = ()

    def clinics_of(self, tenant: str | None) -> frozenset[str]:
        """The clinics a call of this issuer (for ``tenant``) may name."""
        if tenant is not None and tenant in self.tenant_clinics:
            return frozenset(self.tenant_clinics[tenant])
        return frozenset(self.clinics)

    @field_validator("fhir_servers")
    @classmethod
    def _fhir_servers_are_safe(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for url in urls:
            check_secure_url(url)
        return urls

    @field_validator("jwks")
    @classmethod
    def _public_signing_keys_only(cls, jwks: dict[str, Any] | None) -> dict[str, Any] | None:
        if jwks is None:
            return None
        keys = jwks.get("keys")
        if not isinstance(keys, list) or not keys:
            raise ValueError('jwks must be a JWK Set: {"keys": [at least one key]}')
        kids = [check_public_jwk(key) for key in keys]
        if len(set(kids)) != len(kids):
            raise ValueError("jwks: each key needs its own kid")
        return jwks

    @field_validator("jku_allowed")
    @classmethod
    def _key_urls_are_safe(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for url in urls:
            check_secure_url(url)
        return urls

    @field_validator("tenants")
    @classmethod
    def _tenants_are_named(cls, tenants: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if tenants is not None and (not tenants or not all(tenants)):
            raise ValueError("tenants, when given, must list at least one non-empty tenant")
        return tenants

    @model_validator(mode="after")
    def _has_a_key_source(self) -> CdsIssuer:
        if self.jwks is None and not self.jku_allowed:
            raise ValueError(
                f"issuer {self.iss!r} needs its public keys: jwks, or jku_allowed URLs"
            )
        return self


def check_public_jwk(key: Any) -> str:
    """Refuse a JWK that is not a usable public signing key; return its ``kid``.

    Raises:
        ValueError: Not a JSON object, no ``kid``, a symmetric or private key, an
            encryption key, or one PyJWT cannot load.
    """
    if not isinstance(key, dict):
        raise ValueError("a JWK must be a JSON object")
    kid = key.get("kid")
    if not isinstance(kid, str) or not kid:
        raise ValueError("every JWK needs a kid (tokens name their key by it)")
    if key.get("kty") not in _KEY_TYPES:
        raise ValueError(f"key {kid!r}: kty must be EC or RSA (asymmetric signing keys)")
    if _SECRET_MEMBERS & key.keys():
        raise ValueError(f"key {kid!r} holds private members: configure the public key only")
    if key.get("use", "sig") != "sig":
        raise ValueError(f"key {kid!r} is not a signing key (use={key.get('use')!r})")
    try:
        jwt.PyJWK(key)
    except jwt.PyJWTError as error:
        raise ValueError(f"key {kid!r} cannot be loaded: {error}") from error
    return kid


def check_secure_url(url: str) -> str:
    """Refuse a URL that could be spoofed or read on the way: HTTPS, or HTTP to this machine.

    Used for key-set URLs (a key set fetched in clear could be replaced) and for the
    service's own public URLs (JWTs and clinical data must not cross a network in clear).

    Raises:
        ValueError: Not an absolute HTTP(S) URL, credentials or a fragment in it, or plain
            HTTP to another host.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an absolute http(s) URL")
    if parts.username or parts.password or parts.fragment:
        raise ValueError(f"{url!r} must not carry credentials or a fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(f"{url!r} must use https (plain http only to a loopback host)")
    return url


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost`` or a loopback address)."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
