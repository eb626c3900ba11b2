"""What the clinician pages share: their documented answers, and who may see (and act).

A page opens with an API token carrying the scope (header, for record systems that proxy
it) or with a short-lived signed link, bound to what it opens; an answer that refuses is an
HTML page saying why, never a JSON error.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from service.reports.links import LinkSigner
from service.reports.pages import error_page
from service.routes._responses import error_responses
from service.security import Caller, Scope, TokenBook, TokenRefused


def _page(description: str) -> dict[str, Any]:
    return {"content": {"text/html": {"schema": {"type": "string"}}}, "description": description}


HTML_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: _page("An HTML page."),
    401: _page("No token, signed link or SMART session, or an unknown token: a page saying so."),
    403: _page("The token lacks the scope, or the link is incomplete, expired or not valid."),
    404: _page("Nothing of this id or version could be found."),
    503: _page("The audit store is not answering: a page saying to try again shortly."),
    # JSON, as everywhere: the error handlers and the rate limit answer before the page.
    **{
        status: {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
            "description": response["description"],
        }
        for status, response in error_responses(422, 429).items()
    },
}
"""The OpenAPI ``responses`` of a page."""
Expires = Annotated[int | None, Query(description="Signed link: expiry, Unix seconds.")]
Signature = Annotated[str | None, Query(description="Signed link: HMAC-SHA256, hex.")]


def session_only(
    request: Request, *, session: object | None, expires: int | None, signature: str | None
) -> bool:
    """Whether a SMART session (:mod:`service.smart.session`) is the credential: a token or
    a link, when sent, is checked instead (and refused on its own merits, not saved by the
    cookie)."""
    sent = "authorization" in request.headers or expires is not None or signature is not None
    return session is not None and not sent


def page_caller(
    request: Request,
    *,
    links: LinkSigner,
    tokens: TokenBook,
    scope: Scope,
    subject: str,
    expires: int | None,
    signature: str | None,
) -> HTMLResponse | Caller | None:
    """The page that says why not when the caller may not see the page; else the token's
    caller, or None for a good signed link to ``subject``."""
    if expires is not None or signature is not None:
        if expires is None or signature is None:
            return error_page(403, "This link is incomplete; open it again from the record.")
        if links.verify(subject, expires=expires, signature=signature):
            return None
        return error_page(403, "This link has expired or is not valid; open it again.")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    try:
        caller = tokens.caller(token.strip()) if scheme.lower() == "bearer" else None
    except TokenRefused as refused:
        return error_page(401, str(refused))
    if caller is None:
        return error_page(401, "Open this page from the record system, or sign in with a token.")
    if scope not in caller.scopes:
        return error_page(403, f"This token lacks the scope {scope.value!r}.")
    request.state.caller = caller.name
    return caller
