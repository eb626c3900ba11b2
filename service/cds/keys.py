"""The public keys of trusted EHRs, by ``kid``: configured inline, or fetched from a ``jku``.

A token without ``jku`` is checked against its issuer's inline JWK Set. A token naming a
``jku`` is checked against the set fetched from that URL, only if the URL is on its issuer's
allow-list; fetched keys are cached by (issuer, URL, kid) for :data:`KEY_TTL_SECONDS`. An
unknown ``kid`` refetches the set (the EHR may have rotated its key), but not more often
than every :data:`REFETCH_AFTER_SECONDS` per URL, so tokens with made-up ``kid``s cannot
make us hammer the EHR.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import anyio

from service.cds import http
from service.cds.issuers import CdsIssuer, check_public_jwk

_log = logging.getLogger(__name__)

KEY_TTL_SECONDS = 3600.0
"""How long a fetched key is used before its set is fetched again."""
REFETCH_AFTER_SECONDS = 60.0
"""Least time between two fetches of one key set for an unknown ``kid``."""


class KeyRing:
    """Looks up the public JWK of an issuer's ``kid``; one per process, shared by requests."""

    def __init__(
        self,
        issuers: Sequence[CdsIssuer],
        *,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Hold the inline keys of ``issuers``; fetch ``jku`` sets within ``timeout`` seconds."""
        self._issuers = {issuer.iss: issuer for issuer in issuers}
        self._inline = {
            (issuer.iss, key["kid"]): key
            for issuer in issuers
            if issuer.jwks is not None
            for key in issuer.jwks["keys"]
        }
        self._timeout = timeout
        self._clock = clock
        self._fetched: dict[tuple[str, str, str], tuple[dict[str, Any], float]] = {}
        self._last_fetch: dict[str, float] = {}
        self._fetching: dict[str, asyncio.Lock] = {}

    def issuer(self, iss: str) -> CdsIssuer | None:
        """The trusted issuer named ``iss``, None when it is not trusted."""
        return self._issuers.get(iss)

    async def key(self, issuer: CdsIssuer, kid: str, jku: str | None) -> dict[str, Any] | None:
        """The public JWK ``kid`` of ``issuer``, from ``jku`` when given (and allowed).

        Returns:
            The JWK, or None when the issuer has no such key, the ``jku`` is not on its
            allow-list, or its key set could not be fetched.
        """
        if jku is None:
            return self._inline.get((issuer.iss, kid))
        if jku not in issuer.jku_allowed:
            return None
        entry = (issuer.iss, jku, kid)
        if self._fresh(entry):
            return self._fetched[entry][0]
        lock = self._fetching.setdefault(jku, asyncio.Lock())
        async with lock:  # concurrent calls for one URL wait for a single fetch
            if self._fresh(entry):
                return self._fetched[entry][0]
            last = self._last_fetch.get(jku)
            # A stale key is refetched at once; an unknown kid only once the limit allows.
            expired = entry in self._fetched
            if expired or last is None or self._clock() - last >= REFETCH_AFTER_SECONDS:
                await self._fetch(issuer.iss, jku)
        cached = self._fetched.get(entry)
        return cached[0] if cached is not None and self._fresh(entry) else None

    def _fresh(self, entry: tuple[str, str, str]) -> bool:
        cached = self._fetched.get(entry)
        return cached is not None and self._clock() - cached[1] < KEY_TTL_SECONDS

    async def _fetch(self, iss: str, jku: str) -> None:
        """Replace the cached keys of ``jku`` by what it serves now (keep them if it fails)."""
        self._last_fetch[jku] = self._clock()
        try:
            with anyio.fail_after(self._timeout):
                async with http.client(self._timeout) as client:
                    status, document = await http.get_json(client, jku, max_bytes=1024 * 1024)
        except (http.FetchFailedError, TimeoutError) as error:
            _log.warning(
                "could not fetch an EHR key set",
                extra={"event": "cds_jwks_unavailable", "iss": iss, "error": str(error)},
            )
            return
        keys = document.get("keys") if status == 200 and isinstance(document, dict) else None
        if not isinstance(keys, list):
            _log.warning(
                "an EHR key set URL did not answer a JWK Set",
                extra={"event": "cds_jwks_unavailable", "iss": iss, "status": status},
            )
            return
        now = self._clock()
        for cached in [e for e in self._fetched if e[:2] == (iss, jku)]:
            del self._fetched[cached]  # rotated-out keys stop working at once
        refused = 0
        for key in keys:
            try:
                kid = check_public_jwk(key)
            except ValueError:
                refused += 1
                continue
            self._fetched[(iss, jku, kid)] = (key, now)
        _log.info(
            "fetched an EHR key set",
            extra={"event": "cds_jwks_fetched", "iss": iss, "keys": len(keys), "refused": refused},
        )
