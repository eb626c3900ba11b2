"""Reading JSON from a record system's servers: bounded in size, never following redirects.

Used for JWK Sets (``jku``), FHIR searches, and SMART discovery and token exchanges. The
failure messages name what went wrong but never the URL (a FHIR query names the patient)
nor any header (they carry tokens), nor a token endpoint's answer (it carries tokens).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

#: Largest response body read; a FHIR page or key set far beyond this is a fault or an attack.
MAX_BODY_BYTES = 8 * 1024 * 1024


class FetchFailedError(Exception):
    """The server could not be reached, answered an error, or sent something unreadable."""


def client(timeout: float) -> httpx.AsyncClient:
    """An HTTP client whose every connect, read, write and pool wait is bounded by ``timeout``.

    Redirects are not followed: a redirect could carry the bearer token to another host.
    Callers also bound the whole exchange (httpx's timeout is per socket operation).
    """
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False)


async def get_json(
    http: httpx.AsyncClient,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    max_bytes: int = MAX_BODY_BYTES,
) -> tuple[int, Any]:
    """GET ``url`` and parse its body as JSON.

    Returns:
        The status code and the parsed body (None for an empty body).

    Raises:
        FetchFailedError: No answer, a body over ``max_bytes``, or one that is not JSON.
    """
    return await _exchange(http, "GET", url, headers=headers, max_bytes=max_bytes)


async def post_form(
    http: httpx.AsyncClient,
    url: str,
    *,
    form: dict[str, str],
    max_bytes: int = MAX_BODY_BYTES,
) -> tuple[int, Any]:
    """POST ``form`` (``application/x-www-form-urlencoded``) to ``url``; parse the answer
    as JSON (an OAuth token endpoint's exchange).

    Returns:
        The status code and the parsed body (None for an empty body).

    Raises:
        FetchFailedError: No answer, a body over ``max_bytes``, or one that is not JSON.
    """
    headers = {"Accept": "application/json"}
    return await _exchange(http, "POST", url, headers=headers, form=form, max_bytes=max_bytes)


async def _exchange(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None,
    max_bytes: int,
    form: dict[str, str] | None = None,
) -> tuple[int, Any]:
    try:
        async with http.stream(method, url, headers=headers, data=form) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchFailedError(f"the answer is larger than {max_bytes} bytes")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise FetchFailedError(f"the answer is larger than {max_bytes} bytes")
            status = response.status_code
    except httpx.HTTPError as error:
        raise FetchFailedError(f"no answer ({type(error).__name__})") from None
    if not body.strip():
        return status, None
    try:
        return status, json.loads(body)
    except (ValueError, RecursionError):
        raise FetchFailedError(f"the answer (HTTP {status}) is not JSON") from None
