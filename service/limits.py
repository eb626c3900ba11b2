"""Limits on hostile traffic: request body size, and failed authentications per client.

Both are plain ASGI middlewares (not ``BaseHTTPMiddleware``): they sit on every request's
path, so each adds a few attribute reads and at most one closure, never a task or a stream.

The authentication-failure counts live in the memory of one process: each worker keeps its
own, so with ``N`` workers a client may fail up to ``N`` times the configured number per
minute before every worker refuses it, and a restart forgets them. That still turns a
brute-force search of a 256-bit token space from hopeless into more hopeless; what the
limit is for is keeping a misbehaving or hostile client from burning CPU on token checks.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_response

#: Statuses that count as a failed authentication: our token check, the CDS Hooks JWT check
#: and the clinician pages all answer a refused credential with 401.
_FAILED_AUTHENTICATION = 401
#: Paths that need no credential and must keep answering a refused client: orchestrators
#: probe them from addresses an attacker may share (a node, a NAT gateway).
_OPEN_PATHS = frozenset({"/health", "/ready"})


def _too_large_message(max_bytes: int) -> str:
    return f"the request body is larger than {max_bytes} bytes; send less, or split a batch"


class BodySizeLimitMiddleware:
    """Answers 413 ``payload_too_large`` to a request body over ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before the app sees the request.
    Without one (chunked transfer), the chunks are counted as the app reads them, and the
    read that crosses the limit raises a 413 ``HTTPException``, so at most one chunk past
    the limit is ever held; the error handlers answer it in the usual error shape.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            if declared > self.max_bytes:
                response = error_response(
                    413, "payload_too_large", _too_large_message(self.max_bytes)
                )
                await response(scope, receive, send)
                return
            # The server frames the body by Content-Length, so it cannot grow past it:
            # nothing to count.
            await self.app(scope, receive, send)
            return

        received = 0
        limit = self.max_bytes

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI re-raises HTTPExceptions met while reading a body, so this
                    # reaches the app's handler and is answered as 413 payload_too_large.
                    raise HTTPException(413, _too_large_message(limit))
            return message

        await self.app(scope, counting_receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared body length; None when absent or unreadable (then chunks are counted)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class FailureWindow:
    """Failed authentications per client address in a sliding window of ``window`` seconds.

    Only failures are stored: at most ``limit`` times per address (older ones cannot matter)
    and at most ``max_clients`` addresses, the least recently failing forgotten first, so
    a flood from many addresses costs bounded memory. Not thread-safe: the middleware uses
    it from the event loop only.
    """

    def __init__(
        self,
        limit: int,
        *,
        window: float = 60.0,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, None when it may try now."""
        failures = self._failures.get(client)
        if failures is None or len(failures) < self.limit:
            return None
        wait = failures[0] + self.window - self.clock()
        if wait <= 0:
            return None
        return max(1, math.ceil(wait))

    def record_failure(self, client: str) -> None:
        """Count one failed authentication of ``client`` now."""
        failures = self._failures.get(client)
        if failures is None:
            failures = self._failures[client] = deque(maxlen=self.limit)
            if len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)
        else:
            self._failures.move_to_end(client)
        failures.append(self.clock())


class AuthFailureLimitMiddleware:
    """Answers 429 ``too_many_requests`` to clients with too many recent failed logins.

    A response of 401 counts as one failure of the client's address. An address with
    ``limit`` failures in the last minute is refused (with ``Retry-After``) before the app
    reads its token, until the oldest of them is a minute old; successes are not counted.
    The address is the ASGI client's, or, from a configured proxy (``trusted_proxies``,
    ``DROPOUT_RISK_TRUSTED_PROXIES``), the one it forwards in ``X-Forwarded-For``: without
    that, every client behind a proxy shares its address and one bad caller locks all of
    them out.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        failures: FailureWindow,
        trusted_proxies: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.failures = failures
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        client = client_address(scope, self.trusted_proxies)
        wait = self.failures.retry_after(client)
        if wait is not None:
            response = error_response(
                429,
                "too_many_requests",
                f"too many failed authentications from this address; try again in {wait} seconds",
                headers={"Retry-After": str(wait)},
            )
            await response(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if (
                message["type"] == "http.response.start"
                and message["status"] == _FAILED_AUTHENTICATION
            ):
                self.failures.record_failure(client)
            await send(message)

        await self.app(scope, receive, counting_send)


def client_address(scope: Scope, trusted_proxies: frozenset[str] = frozenset()) -> str:
    """The calling client's address: the peer's, or, when the peer is one of our proxies,
    the nearest address in ``X-Forwarded-For`` that is not one of them.

    Only configured proxies are believed: anyone else could write the header to spread
    its failures over invented addresses, or to lock another client out.
    """
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if peer not in trusted_proxies:
        return peer
    forwarded = [
        value.decode("latin-1")
        for name, value in scope.get("headers", [])
        if name.lower() == b"x-forwarded-for"
    ]
    hops = [hop.strip() for line in forwarded for hop in line.split(",") if hop.strip()]
    for hop in reversed(hops):
        if hop not in trusted_proxies:
            return hop
    return peer
