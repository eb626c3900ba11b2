"""Fetching from the EHR's FHIR server what prefetch did not bring, with the token it lent us.

All queries run concurrently within one time budget; each search follows
``Bundle.link[relation=next]`` up to :data:`MAX_PAGES` pages. The token is sent only to the
server the EHR named (``fhirServer``): a next link to another origin is refused, redirects
are not followed, and plain HTTP is refused off this machine. The token is never logged,
stored or put in an error message.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import anyio

from service.cds import http
from service.cds.issuers import check_secure_url
from service.cds.prefetch import read_bundle

MAX_PAGES = 20
"""Pages followed per search; a psychotherapy episode needs a handful at 100 per page."""
MAX_RESOURCES = 10_000
"""Resources read per call, all searches together."""


class FhirUnavailableError(Exception):
    """What the service needs could not be read from the FHIR server (answered 412)."""


class FhirReader:
    """Reads one EHR's FHIR server for one hook call."""

    def __init__(
        self, base_url: str, access_token: str, *, timeout: float, allow_private: bool = False
    ) -> None:
        """Read from ``base_url`` with ``access_token``, all within ``timeout`` seconds;
        a private, loopback or link-local address only with ``allow_private``.

        Raises:
            FhirUnavailableError: ``base_url`` is not HTTPS (or HTTP to this machine).
        """
        try:
            check_secure_url(base_url)
        except ValueError:
            raise FhirUnavailableError("fhirServer is not an https URL") from None
        self._base = base_url.rstrip("/") + "/"
        self._origin = urlsplit(self._base)[:2]
        self._headers = {
            "Authorization": f"Bearer {access_token}",
            "Accept": "application/fhir+json",
        }
        self._timeout = timeout
        self._allow_private = allow_private

    async def collect(
        self, queries: Sequence[str], continuations: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Every resource answering ``queries`` (relative, e.g. ``Patient/1``) and found at
        ``continuations`` (next-page URLs of prefetched searches), following pages.

        Raises:
            FhirUnavailableError: A query failed, timed out, or went beyond the limits.
        """
        urls = [urljoin(self._base, query) for query in queries] + list(continuations)
        try:
            with anyio.fail_after(self._timeout):
                if not self._allow_private:
                    await refuse_private_host(urlsplit(self._base))
                async with http.client(self._timeout) as client:
                    answers = await asyncio.gather(*(self._read(client, url) for url in urls))
        except TimeoutError:
            raise FhirUnavailableError(f"no complete answer within {self._timeout:g} s") from None
        resources = [resource for answer in answers for resource in answer]
        if len(resources) > MAX_RESOURCES:
            raise FhirUnavailableError(f"more than {MAX_RESOURCES} resources")
        return resources

    async def _read(self, client: Any, url: str) -> list[dict[str, Any]]:
        """The resources at ``url`` and on every next page of it."""
        resources: list[dict[str, Any]] = []
        for page in range(MAX_PAGES):
            if urlsplit(url)[:2] != self._origin:
                raise FhirUnavailableError("a next link leaves the FHIR server's origin")
            try:
                status, document = await http.get_json(client, url, headers=self._headers)
            except http.FetchFailedError as error:
                raise FhirUnavailableError(str(error)) from None
            if status in (404, 410) and page == 0 and "?" not in url:
                return []  # a read of a resource the server does not have
            if status != 200 or not isinstance(document, dict):
                raise FhirUnavailableError(f"the FHIR server answered HTTP {status}")
            kind = document.get("resourceType")
            if kind == "Bundle":
                answer = read_bundle(document)
                if answer is None:
                    raise FhirUnavailableError("the FHIR server sent a malformed Bundle")
                resources.extend(answer.resources)
                if answer.next_url is None:
                    return resources
                url = urljoin(url, answer.next_url)
                continue
            if not isinstance(kind, str) or kind == "OperationOutcome":
                raise FhirUnavailableError("the FHIR server answered an error")
            return [*resources, document]
        raise FhirUnavailableError(f"a search ran beyond {MAX_PAGES} pages")


async def refuse_private_host(parts: SplitResult) -> None:
    """Refuse a host that resolves to a private, loopback, link-local or otherwise internal
    address: the address is checked after DNS resolution, so a public name pointing inward
    is refused too.

    Raises:
        FhirUnavailableError: The host resolves to such an address, or not at all.
    """
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        answers = await anyio.getaddrinfo(host, port)
    except OSError:
        raise FhirUnavailableError("the FHIR server's name does not resolve") from None
    for _family, _type, _proto, _name, address in answers:
        ip = ipaddress.ip_address(address[0])
        if (
            ip.is_private
            or ip.is_loopback
            or ip.is_link_local
            or ip.is_reserved
            or ip.is_multicast
            or ip.is_unspecified
        ):
            raise FhirUnavailableError("the FHIR server is at a private or loopback address")
