"""Security headers on every response, and a strict policy on the clinician's HTML pages.

The pages hold personal data and are opened through signed links: nothing may cache them,
frame them, or leak the link (its query is the credential) in a ``Referer``. They use
inline styles and inline SVG but no script, so the content policy allows nothing else; their
forms (the caseload's alert actions) post back to this service only.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: Sent on every response, unless the app set the header itself.
EVERY_RESPONSE = {
    b"x-content-type-options": b"nosniff",
    b"cache-control": b"no-store",
}
#: Sent on HTML responses besides (``X-Frame-Options`` for browsers without CSP frames).
HTML_RESPONSE = {
    b"content-security-policy": CONTENT_SECURITY_POLICY.encode(),
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"DENY",
}


_CSP = b"content-security-policy"
_FOR_OTHERS = tuple(EVERY_RESPONSE.items())
_FOR_HTML = _FOR_OTHERS + tuple(HTML_RESPONSE.items())
_FOR_UNCONFINED_HTML = tuple(pair for pair in _FOR_HTML if pair[0] != _CSP)


class SecurityHeadersMiddleware:
    """Adds :data:`EVERY_RESPONSE` headers, and :data:`HTML_RESPONSE` ones to HTML.

    ``unconfined_paths`` are HTML pages whose scripts come from elsewhere (FastAPI's API
    docs load Swagger UI from a CDN): they get every header but the content policy.
    """

    def __init__(self, app: ASGIApp, *, unconfined_paths: Iterable[str | None] = ()) -> None:
        self.app = app
        self.unconfined_paths = frozenset(path for path in unconfined_paths if path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        html = _FOR_UNCONFINED_HTML if scope["path"] in self.unconfined_paths else _FOR_HTML

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                extra = html if _is_html(headers) else _FOR_OTHERS
                headers.extend(pair for pair in extra if pair[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_html(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name.lower() == b"content-type":
            return value.lower().startswith(b"text/html")
    return False
