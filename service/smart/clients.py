"""The record systems that may launch us (``DROPOUT_RISK_SMART_CLIENTS``), and how we prove
who we are to their token endpoint.

Each entry names the EHR's FHIR base URL (the ``iss`` of its launches), the ``client_id`` it
registered us under and the clinics its users may see. A public client proves nothing but
the PKCE verifier; a confidential one also signs a ``private_key_jwt`` client assertion
(SMART's asymmetric client authentication) with the key in ``private_key_file``, which is
read and checked at start-up, not at the first launch.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.cds.issuers import check_secure_url

#: How long a client assertion is valid (SMART: no more than five minutes).
ASSERTION_LIFETIME_SECONDS = 300
#: The assertion's algorithm per key type (SMART asks clients to support RS384 and ES384).
_ALGORITHM = {"RSA": "RS384", "EC": "ES384"}

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class SmartClient(BaseModel):
    """One record system registered to launch us.

    Attributes:
        iss: The EHR's FHIR base URL, exactly as its launches name it.
        client_id: The id the EHR's authorization server registered us under.
        clinics: The clinics whose records a session launched from it may see.
        private_key_file: For a confidential client: our PEM private key (RSA or P-384 EC)
            signing the ``private_key_jwt`` assertion. None: a public client (PKCE only).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: str = Field(min_length=1, max_length=2048)
    client_id: str = Field(min_length=1, max_length=256)
    clinics: tuple[str, ...] = Field(min_length=1)
    private_key_file: Path | None = None

    @field_validator("iss")
    @classmethod
    def _secure_issuer(cls, iss: str) -> str:
        return check_secure_url(iss.rstrip("/"))

    @field_validator("clinics")
    @classmethod
    def _named_clinics(cls, clinics: tuple[str, ...]) -> tuple[str, ...]:
        if not all(clinics):
            raise ValueError("clinics must be non-empty names")
        return clinics

    @field_validator("private_key_file")
    @classmethod
    def _usable_key(cls, path: Path | None) -> Path | None:
        if path is not None:
            _load_key(path)  # refuse an unreadable or unsuitable key now, not mid-launch
        return path

    @property
    def confidential(self) -> bool:
        """Whether it authenticates at the token endpoint with a signed assertion."""
        return self.private_key_file is not None

    def public_jwk(self) -> dict[str, Any]:
        """The public half of our key as a JWK, ``kid`` its RFC 7638 thumbprint (what the
        EHR is given when registering us).

        Raises:
            ValueError: The client is public, or its key can no longer be read.
        """
        return _public_jwk(self._signing_key())

    def _signing_key(self) -> PrivateKey:
        # Read at each use (one per launch): a key replaced on disk is used at once.
        if self.private_key_file is None:
            raise ValueError("a public client has no key")
        return _load_key(self.private_key_file)

    def client_assertion(self, *, token_endpoint: str, now: float | None = None) -> str:
        """A signed ``private_key_jwt`` for one call to ``token_endpoint``.

        Raises:
            ValueError: The client is public, or its key can no longer be read.
        """
        key = self._signing_key()
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": token_endpoint,
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME_SECONDS,
            "jti": secrets.token_urlsafe(24),  # the server refuses a repeat
        }
        jwk = _public_jwk(key)
        return jwt.encode(
            claims,
            key,
            algorithm=jwk["alg"],
            headers={"kid": jwk["kid"], "typ": "JWT"},
        )


def _load_key(path: Path) -> PrivateKey:
    """The private key in ``path``: RSA of at least 2048 bits, or EC on P-384.

    Raises:
        ValueError: The file cannot be read, or the key is of another kind.
    """
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise ValueError(
            f"private_key_file {path}: not an unencrypted PEM key ({error})"
        ) from None
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP384R1):
        return key
    raise ValueError(f"private_key_file {path}: needs an RSA (>= 2048 bits) or P-384 EC key")


def _public_jwk(key: PrivateKey) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if _kty(key) == "RSA" else jwt.algorithms.ECAlgorithm
    jwk = json.loads(algorithm.to_jwk(key.public_key()))
    return jwk | {"kid": _thumbprint(jwk), "alg": _ALGORITHM[_kty(key)], "use": "sig"}


def _kty(key: PrivateKey) -> str:
    return "RSA" if isinstance(key, rsa.RSAPrivateKey) else "EC"


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, without whitespace."""
    required = ("e", "kty", "n") if jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
    canonical = json.dumps(
        {name: jwk[name] for name in required}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
