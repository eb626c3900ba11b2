"""The EHR's SMART configuration (``{iss}/.well-known/smart-configuration``), and the guard
on every URL we call on its behalf.

Discovery names the endpoints we will send a clinician's browser to and post codes to, and
the key set that signs its id_tokens; each must be HTTPS (plain HTTP only to this machine)
and, unless ``allow_private_addresses``, must not resolve to a private, loopback or
link-local address (the same check as the CDS Hooks ``fhirServer``), so that a launch
cannot make us probe the network we sit in. Documents are kept a few minutes per issuer,
so that the callback of a launch does not fetch again what the launch just read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio

from service.cds import http
from service.cds.fetch import FhirUnavailableError, refuse_private_host
from service.cds.issuers import check_secure_url

#: How long a discovery document is reused.
CONFIGURATION_TTL_SECONDS = 300.0
#: Largest discovery document or token answer read.
MAX_DOCUMENT_BYTES = 256 * 1024


class SmartUnavailableError(Exception):
    """The EHR's authorization server could not be used; the message names why, never a
    token or a code (it is logged)."""


@dataclass(frozen=True)
class SmartConfiguration:
    """What a launch needs of an EHR's discovery document.

    Attributes:
        authorization_endpoint: Where the clinician's browser is sent to authorize us.
        token_endpoint: Where the code is exchanged.
        jwks_uri: The key set that signs the EHR's id_tokens.
        issuer: The ``iss`` its id_tokens carry (OpenID Connect; the document's ``issuer``,
            else the FHIR base URL).
        private_key_jwt: Whether its token endpoint accepts ``private_key_jwt``.
    """

    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    issuer: str
    private_key_jwt: bool


class Discovery:
    """Reads and caches EHRs' SMART configurations; one per process."""

    def __init__(
        self,
        *,
        timeout: float,
        allow_private: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Call within ``timeout`` seconds; private addresses only with ``allow_private``."""
        self.timeout = timeout
        self.allow_private = allow_private
        self._clock = clock
        self._cached: dict[str, tuple[SmartConfiguration, float]] = {}

    async def configuration(self, iss: str) -> SmartConfiguration:
        """The SMART configuration of the EHR whose FHIR base URL is ``iss``.

        Raises:
            SmartUnavailableError: It could not be read, or names unusable endpoints.
        """
        cached = self._cached.get(iss)
        if cached is not None and self._clock() - cached[1] < CONFIGURATION_TTL_SECONDS:
            return cached[0]
        url = f"{iss.rstrip('/')}/.well-known/smart-configuration"
        status, document = await self.get_json(url)
        if status != 200 or not isinstance(document, dict):
            raise SmartUnavailableError(f"discovery answered HTTP {status}, not a document")
        configuration = _read(document, iss=iss)
        self._cached[iss] = (configuration, self._clock())
        return configuration

    async def get_json(self, url: str) -> tuple[int, Any]:
        """GET ``url`` once it has passed :meth:`check`; its status and JSON body.

        Raises:
            SmartUnavailableError: Refused by the check, no answer in time, or not JSON.
        """
        try:
            with anyio.fail_after(self.timeout):
                await self.check(url)
                async with http.client(self.timeout) as client:
                    return await http.get_json(client, url, max_bytes=MAX_DOCUMENT_BYTES)
        except http.FetchFailedError as error:
            raise SmartUnavailableError(str(error)) from None
        except TimeoutError:
            raise SmartUnavailableError(f"no answer within {self.timeout:g} s") from None

    async def post_form(self, url: str, form: dict[str, str]) -> tuple[int, Any]:
        """POST ``form`` to ``url`` once it has passed :meth:`check`; status and JSON body.

        Raises:
            SmartUnavailableError: Refused by the check, no answer in time, or not JSON.
        """
        try:
            with anyio.fail_after(self.timeout):
                await self.check(url)
                async with http.client(self.timeout) as client:
                    return await http.post_form(
                        client, url, form=form, max_bytes=MAX_DOCUMENT_BYTES
                    )
        except http.FetchFailedError as error:
            raise SmartUnavailableError(str(error)) from None
        except TimeoutError:
            raise SmartUnavailableError(f"no answer within {self.timeout:g} s") from None

    async def check(self, url: str) -> None:
        """Refuse a URL that is not HTTPS (or HTTP to this machine), or whose host resolves
        to a private, loopback or link-local address (unless those are allowed).

        Raises:
            SmartUnavailableError: The URL is refused.
        """
        try:
            check_secure_url(url)
        except ValueError:
            raise SmartUnavailableError("an endpoint is not an https URL") from None
        if self.allow_private:
            return
        try:
            await refuse_private_host(urlsplit(url))
        except FhirUnavailableError:
            # The guard is the CDS Hooks one; its message speaks of a FHIR server.
            raise SmartUnavailableError(
                "an endpoint is at a private or loopback address"
            ) from None


def _read(document: dict[str, Any], *, iss: str) -> SmartConfiguration:
    """The configuration in ``document``, its endpoints checked.

    Raises:
        SmartUnavailableError: An endpoint is missing or not an https URL, or PKCE with
            S256 is not offered (SMART App Launch 2 requires it).
    """
    endpoints = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = document.get(name)
        if not isinstance(value, str):
            raise SmartUnavailableError(f"discovery names no {name}")
        try:
            endpoints[name] = check_secure_url(value)
        except ValueError:
            raise SmartUnavailableError(f"discovery's {name} is not an https URL") from None
    if "S256" not in (document.get("code_challenge_methods_supported") or []):
        raise SmartUnavailableError("the EHR does not offer PKCE with S256")
    issuer = document.get("issuer")
    methods = document.get("token_endpoint_auth_methods_supported") or []
    return SmartConfiguration(
        **endpoints,
        issuer=issuer if isinstance(issuer, str) and issuer else iss,
        private_key_jwt="private_key_jwt" in methods,
    )
