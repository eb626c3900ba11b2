"""API tokens: created once, stored as hashes, checked per request against their scopes
and their clinics.

A token is 256 random bits, so a plain SHA-256 of it is as strong as a slow password hash
would be (those exist to protect guessable secrets); the service keeps only hashes, so a
leaked tokens file, environment or token table grants nothing.

Every token belongs to one or more clinics, or to all of them (an operator's); a token from
before clinics existed names none and is refused until it is reissued. Tokens live in the
audit database (shared by every replica) as well as in the tokens file and the environment;
:class:`TokenBook` re-reads the database every few seconds, so a new or revoked token takes
effect on every running service without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

_log = logging.getLogger(__name__)

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
    clinics: frozenset[str] = Field(
        default=frozenset(), description="The clinics whose records the token may write and read."
    )
    all_clinics: bool = Field(default=False, description="An operator's token: every clinic.")
    expires_at: datetime | None = None

    @property
    def has_clinics(self) -> bool:
        """Whether the token names its clinics (tokens from before clinics do not)."""
        return self.all_clinics or bool(self.clinics)

    def expired(self, now: datetime | None = None) -> bool:
        """Whether the token's expiry has passed."""
        return self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC))


@dataclass(frozen=True)
class Caller:
    """Who is calling: the token's name (logged and stored with what it writes), what it
    may do, and the clinics whose records it may see (None: every clinic, an operator)."""

    name: str
    scopes: frozenset[Scope]
    clinics: frozenset[str] | None = None

    def sees(self, clinic_id: str) -> bool:
        """Whether this caller may write and read records of ``clinic_id``."""
        return self.clinics is None or clinic_id in self.clinics

    @property
    def only_clinic(self) -> str | None:
        """The caller's one clinic, None for an operator or a token of several clinics."""
        if self.clinics is not None and len(self.clinics) == 1:
            return next(iter(self.clinics))
        return None


def hash_token(token: str) -> str:
    """Lower-case hex SHA-256 of ``token``, as configured in a :class:`TokenEntry`."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(
    *,
    name: str,
    scopes: set[Scope],
    clinics: Iterable[str] = (),
    all_clinics: bool = False,
    expires_at: datetime | None = None,
) -> tuple[str, TokenEntry]:
    """A fresh token and the entry to store for it (the token is shown once, not kept).

    A token needs ``clinics`` or ``all_clinics``; one with neither is refused when used.
    """
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    entry = TokenEntry(
        name=name,
        sha256=hash_token(token),
        scopes=frozenset(scopes),
        created_at=datetime.now(UTC).replace(microsecond=0),
        clinics=frozenset(clinics),
        all_clinics=all_clinics,
        expires_at=expires_at,
    )
    return token, entry


class TokenRefused(Exception):  # noqa: N818 - a verdict, not a fault
    """A known token that may not be used: expired, or from before clinics (reissue it)."""


#: Seconds a token read from the database is trusted before it is read again: a revocation
#: or a new token reaches every running service within this (plus one read).
DEFAULT_REFRESH_SECONDS = 2.0
#: A token's last use is written at most this often, so a busy token costs no write per call.
LAST_USE_EVERY_SECONDS = 60.0


class TokenBook:
    """The tokens in force, looked up by the hash of a presented token.

    Fixed entries (tokens file, environment) and, when ``source`` is given, the database's
    tokens, re-read at most every ``refresh_seconds``. A read that fails keeps the last
    known tokens (and is logged): a database blip must not lock every caller out.
    """

    def __init__(
        self,
        entries: list[TokenEntry],
        *,
        source: Callable[[], list[TokenEntry]] | None = None,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        on_use: Callable[[str, datetime], None] | None = None,
    ) -> None:
        """Index ``entries``; read ``source`` for more; report uses to ``on_use``.

        Raises:
            ValueError: Two fixed entries share a name or a hash.
        """
        names = [e.name for e in entries]
        if len(set(names)) != len(names):
            raise ValueError("token names must be unique")
        self._fixed = {e.sha256: e for e in entries}
        if len(self._fixed) != len(entries):
            raise ValueError("two token entries have the same hash")
        self._source = source
        self._refresh_seconds = refresh_seconds
        self._on_use = on_use
        self._stored: dict[str, TokenEntry] = {}
        self._read_at = float("-inf")
        self._lock = threading.Lock()
        self._last_use: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._fixed) + len(self._current_stored())

    def _current_stored(self) -> dict[str, TokenEntry]:
        if self._source is None:
            return {}
        if time.monotonic() - self._read_at < self._refresh_seconds:
            return self._stored
        with self._lock:
            if time.monotonic() - self._read_at >= self._refresh_seconds:
                try:
                    self._stored = {e.sha256: e for e in self._source()}
                except Exception as error:  # noqa: BLE001 - keep the last known tokens
                    _log.warning(
                        "the token table could not be read; keeping the last known tokens",
                        extra={"event": "tokens_unreadable", "error": type(error).__name__},
                    )
                self._read_at = time.monotonic()
        return self._stored

    def io_due(self, token: str) -> bool:
        """Whether looking ``token`` up now would read or write the token table: the stored
        tokens are due to be read again, or the token's last use is due to be stamped.

        An async caller looks a token up on the event loop with ``io=False`` when this is
        False, and in a worker thread otherwise: most requests need no database at all.
        """
        now = time.monotonic()
        if self._source is not None and now - self._read_at >= self._refresh_seconds:
            return True
        if self._on_use is None:
            return False
        digest = hash_token(token)
        entry = self._fixed.get(digest) or self._stored.get(digest)
        return entry is not None and (
            now - self._last_use.get(entry.name, float("-inf")) >= LAST_USE_EVERY_SECONDS
        )

    def entry(self, token: str, *, io: bool = True) -> TokenEntry | None:
        """The entry of a presented token, None for an unknown or revoked one.

        ``io=False``: from the tokens read last, even when they are due to be read again.
        """
        digest = hash_token(token)
        stored = self._current_stored() if io else self._stored
        entry = self._fixed.get(digest) or stored.get(digest)
        # Lookup is by a hash of the secret; the comparison below is constant-time anyway.
        if entry is None or not hmac.compare_digest(entry.sha256, digest):
            return None
        return entry

    def caller(self, token: str, *, io: bool = True) -> Caller | None:
        """The caller a presented token identifies, None for an unknown or revoked token.

        ``io=False``: without reading or writing the token table (see :meth:`io_due`): from
        the tokens read last, and the last use left to be stamped by a later lookup.

        Raises:
            TokenRefused: The token is known but expired, or names no clinic.
        """
        entry = self.entry(token, io=io)
        if entry is None:
            return None
        if entry.expired():
            raise TokenRefused(f"the API token {entry.name!r} has expired; ask for a new one")
        if not entry.has_clinics:
            raise TokenRefused(
                f"the API token {entry.name!r} was created before tokens named their clinics; "
                "reissue it with `dropout-risk token create --clinic C` (or --all-clinics)"
            )
        if io:
            self._used(entry.name)
        clinics = None if entry.all_clinics else entry.clinics
        return Caller(name=entry.name, scopes=entry.scopes, clinics=clinics)

    def _used(self, name: str) -> None:
        if self._on_use is None:
            return
        now = time.monotonic()
        if now - self._last_use.get(name, float("-inf")) < LAST_USE_EVERY_SECONDS:
            return
        self._last_use[name] = now
        try:
            self._on_use(name, datetime.now(UTC))
        except Exception as error:  # noqa: BLE001 - a last-use stamp never fails a request
            _log.warning(
                "a token's last use could not be recorded",
                extra={"event": "token_use_unrecorded", "error": type(error).__name__},
            )
