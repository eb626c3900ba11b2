"""API tokens: created once, stored as hashes, checked per request against their scopes.

A token is 256 random bits, so a plain SHA-256 of it is as strong as a slow password hash
would be (those exist to protect guessable secrets); the service keeps only hashes, so a
leaked tokens file or environment grants nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

TOKEN_PREFIX = "drk_"
"""Marks our tokens, so secret scanners and people can recognise one."""


class Scope(StrEnum):
    """What a token may do."""

    RISK_WRITE = "risk:write"
    """Score clients (single and batch); each score is written to the audit store."""
    OUTCOMES_WRITE = "outcomes:write"
    """Report how an episode ended."""
    MODELS_READ = "models:read"
    """Read which model serves, its metrics, thresholds and model card."""
    AUDIT_READ = "audit:read"
    """Read stored assessments (they hold personal data)."""
    METRICS_READ = "metrics:read"
    """Scrape the Prometheus metrics."""
    ADMIN = "admin"
    """Operate the service: reload the model now."""


class TokenEntry(BaseModel):
    """One configured token: its name, the SHA-256 of its secret, its scopes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="Lower-case hex SHA-256 of the token; the token itself is never stored.",
    )
    scopes: frozenset[Scope] = Field(min_length=1)
    created_at: datetime | None = None


@dataclass(frozen=True)
class Caller:
    """Who is calling: the token's name (logged) and what it may do."""

    name: str
    scopes: frozenset[Scope]


def hash_token(token: str) -> str:
    """Lower-case hex SHA-256 of ``token``, as configured in a :class:`TokenEntry`."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(*, name: str, scopes: set[Scope]) -> tuple[str, TokenEntry]:
    """A fresh token and the entry to configure for it (the token is shown once, not kept)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    entry = TokenEntry(
        name=name,
        sha256=hash_token(token),
        scopes=frozenset(scopes),
        created_at=datetime.now(UTC).replace(microsecond=0),
    )
    return token, entry


class TokenBook:
    """The configured tokens, looked up by the hash of a presented token."""

    def __init__(self, entries: list[TokenEntry]) -> None:
        """Index ``entries``.

        Raises:
            ValueError: Two entries share a name or a hash.
        """
        names = [e.name for e in entries]
        if len(set(names)) != len(names):
            raise ValueError("token names must be unique")
        self._by_hash = {e.sha256: e for e in entries}
        if len(self._by_hash) != len(entries):
            raise ValueError("two token entries have the same hash")

    def __len__(self) -> int:
        return len(self._by_hash)

    def caller(self, token: str) -> Caller | None:
        """The caller a presented token identifies, None for an unknown token."""
        digest = hash_token(token)
        entry = self._by_hash.get(digest)
        # Lookup is by a hash of the secret; the comparison below is constant-time anyway.
        if entry is None or not hmac.compare_digest(entry.sha256, digest):
            return None
        return Caller(name=entry.name, scopes=entry.scopes)
