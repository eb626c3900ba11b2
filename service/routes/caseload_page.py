"""The caseload page, and the forms on it that move alerts on.

The page opens with an API token of scope ``audit:read``, with a signed link to one
clinic's caseload, or in the session of a practitioner's SMART launch (its issuer's
clinics; the practitioner acts); the link may name a practitioner, who is then the actor of
the alert steps taken from the page. A link that names none shows the page but cannot act;
a token acts as itself when it also has ``risk:write``. A SMART session opened on one
patient's record does not open the caseload. Forms post back to this service only:
a post another site's page makes is refused (``Sec-Fetch-Site``, ``Origin``), so no other
site can act through a signed-in proxy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.audit import AuditStore, AuditUnavailableError
from service.audit.alerts import AlertStateError, NoteRequiredError
from service.caseload import read_caseload
from service.deps import AuditDep, LinksDep, SettingsDep, SmartSessionDep, TokensDep
from service.reports.caseload_view import caseload_view
from service.reports.links import LinkSigner, caseload_query, caseload_subject
from service.reports.pages import caseload_page, error_page
from service.routes._pages import HTML_RESPONSES, Expires, Signature, page_caller, session_only
from service.routes._responses import error_responses
from service.schemas.alerts import MAX_NOTE_CHARACTERS
from service.security import Scope, TokenBook
from service.smart.session import SmartSession

router = APIRouter(tags=["clinician pages"])

#: The steps a form may take, by the word in its URL.
_STEPS = {"acknowledge": "acknowledged", "resolve": "resolved", "dismiss": "dismissed"}
_LINK_FIELDS = ("clinic_id", "therapist_id", "practitioner")
# 256: a record system's user id (CDS Hooks ``userId``) may be that long.
Named = Annotated[str | None, Query(max_length=256, description="Signed link: what it names.")]


@dataclass(frozen=True)
class _Viewer:
    """Who has the page open: whose records they see, and who acts on alerts (if anyone)."""

    name: str
    clinics: frozenset[str] | None
    actor: str | None
    link: dict[str, str]


@router.get(
    "/caseload",
    response_class=HTMLResponse,
    responses=HTML_RESPONSES,
    summary="The caseload page",
)
def read_caseload_page(
    request: Request,
    audit: AuditDep,
    links: LinksDep,
    tokens: TokensDep,
    settings: SettingsDep,
    session: SmartSessionDep,
    therapist_id: Named = None,
    clinic_id: Named = None,
    practitioner: Named = None,
    expires: Expires = None,
    signature: Signature = None,
) -> HTMLResponse:
    """`GET /v1/caseload` as a page: each open client with both risks, the change since
    the previous assessment in words and an arrow, the trend, signals, alerts with the
    checklist of their kind and forms to act on them, and a link to the full report.
    Scope `audit:read` (bearer token), a signed link to one clinic's caseload, or the
    session cookie of a practitioner's SMART launch. The read is logged."""
    named = {"clinic_id": clinic_id, "therapist_id": therapist_id, "practitioner": practitioner}
    viewer = _viewer(
        request, links, tokens, Scope.AUDIT_READ, named, expires, signature, session=session
    )
    if isinstance(viewer, HTMLResponse):
        return viewer
    try:
        caseload = read_caseload(audit, clinics=viewer.clinics, therapist_id=therapist_id)
        audit.reads.record(caller=viewer.name, what="caseload page")
    except AuditUnavailableError:
        return error_page(503, "The audit store is not answering; please try again shortly.")
    view = caseload_view(caseload, links=links, protocol=settings.safety_protocol)

    def therapist_url(therapist: str) -> str:
        if not viewer.link:
            return "/caseload?" + urlencode({"therapist_id": therapist})
        return "/caseload?" + caseload_query(
            links,
            clinic_id=viewer.link["clinic_id"],
            therapist_id=therapist,
            practitioner=viewer.link.get("practitioner"),
        )

    html = caseload_page(
        view, actor=viewer.actor, link_fields=viewer.link, therapist_url=therapist_url
    )
    return HTMLResponse(html)


@router.post(
    "/caseload/alerts/{alert_id}/{step}",
    response_class=HTMLResponse,
    responses={
        303: {"description": "Done: back to the caseload page."},
        **HTML_RESPONSES,
        409: HTML_RESPONSES[404] | {"description": "The alert is past this step already."},
        **error_responses(413),
    },
    summary="Act on an alert from the caseload page",
)
async def act_from_page(
    alert_id: str,
    step: str,
    request: Request,
    audit: AuditDep,
    links: LinksDep,
    tokens: TokensDep,
    session: SmartSessionDep,
) -> Response:
    """The page's forms: `acknowledge` or `resolve` (with an optional `note`), `dismiss`
    (with a required `reason`), as form fields beside the signed link's own. The actor
    is the practitioner the link names (a link naming none cannot act), the token
    (scope `risk:write`), or the practitioner of a SMART session. Another clinic's alert
    is 404."""
    if step not in _STEPS:
        return error_page(404, "There is no such step on an alert.")
    if not _same_origin(request):
        return error_page(403, "This form can be sent only from the caseload page itself.")
    body = (await request.body()).decode("utf-8", "replace")
    form = {key: values[-1] for key, values in parse_qs(body).items()}
    # Token and alert look-ups read the database: off the event loop.
    return await run_in_threadpool(
        _act, request, audit, links, tokens, alert_id=alert_id, step=step, form=form,
        session=session,
    )  # fmt: skip


def _act(
    request: Request,
    audit: AuditStore,
    links: LinkSigner,
    tokens: TokenBook,
    *,
    alert_id: str,
    step: str,
    form: dict[str, str],
    session: SmartSession | None,
) -> Response:
    """Take the form's step on the alert as the viewer; the page again, or why not."""
    named = {name: form.get(name) or None for name in _LINK_FIELDS}
    expires = form.get("expires")
    viewer = _viewer(
        request, links, tokens, Scope.RISK_WRITE, named,
        int(expires) if expires and expires.isdigit() else None, form.get("signature"),
        session=session,
    )  # fmt: skip
    if isinstance(viewer, HTMLResponse):
        return viewer
    if viewer.actor is None:
        return error_page(403, "This link names no practitioner, so it cannot act on alerts.")
    text = (form.get("reason") if step == "dismiss" else form.get("note")) or ""
    if step == "dismiss" and not text.strip():
        return error_page(422, "Dismissing an alert needs a reason; go back and give one.")
    if len(text) > MAX_NOTE_CHARACTERS:
        return error_page(422, f"A note or reason holds at most {MAX_NOTE_CHARACTERS} characters.")
    try:
        # A link to one therapist's caseload acts on that therapist's clients' alerts only.
        linked_therapist = viewer.link.get("therapist_id")
        if linked_therapist is not None:
            seen = audit.alerts.alert(alert_id, clinics=viewer.clinics)
            if seen is None or seen.therapist_id != linked_therapist:
                return error_page(404, "There is no alert with this id.")
        alert = audit.alerts.act(
            alert_id, step=_STEPS[step], actor=viewer.actor, note=text.strip() or None,
            clinics=viewer.clinics,
        )  # fmt: skip
    except AlertStateError as error:
        return error_page(409, f"{str(error).capitalize()}.")
    except NoteRequiredError as error:
        return error_page(422, f"{str(error).capitalize()}; go back and add one.")
    except AuditUnavailableError:
        return error_page(503, "The audit store is not answering; please try again shortly.")
    if alert is None:
        return error_page(404, "There is no alert with this id.")
    back = viewer.link or {"therapist_id": named["therapist_id"] or ""}
    return RedirectResponse(f"/caseload?{urlencode(back)}", status_code=303)


def _viewer(
    request: Request,
    links: LinkSigner,
    tokens: TokenBook,
    scope: Scope,
    named: dict[str, str | None],
    expires: int | None,
    signature: str | None,
    *,
    session: SmartSession | None,
) -> HTMLResponse | _Viewer:
    """Who has the page: a token's caller, a good signed link's clinic and practitioner, or
    a practitioner's SMART session (its issuer's clinics)."""
    if session is not None and session_only(
        request, session=session, expires=expires, signature=signature
    ):
        if session.patient is not None:
            return error_page(
                403, "This session was opened on one client's record; open the caseload from "
                "the record system's practitioner view."
            )  # fmt: skip
        request.state.caller = "smart-session"  # the access log names no person
        return _Viewer(session.name, session.clinics, session.name if session.user else None, {})
    subject = caseload_subject(
        clinic_id=named["clinic_id"] or "",
        therapist_id=named["therapist_id"],
        practitioner=named["practitioner"],
    )
    verdict = page_caller(
        request, links=links, tokens=tokens, scope=scope, subject=subject,
        expires=expires, signature=signature,
    )  # fmt: skip
    if isinstance(verdict, HTMLResponse):
        return verdict
    if verdict is not None:
        may_act = Scope.RISK_WRITE in verdict.scopes
        return _Viewer(verdict.name, verdict.clinics, verdict.name if may_act else None, {})
    if not named["clinic_id"]:
        return error_page(403, "This link names no clinic; open it again from the record.")
    link = {name: value for name, value in named.items() if value}
    link |= {"expires": str(expires), "signature": str(signature)}
    practitioner = named["practitioner"]
    return _Viewer(
        practitioner or "signed-link", frozenset({named["clinic_id"]}), practitioner, link
    )


def _same_origin(request: Request) -> bool:
    """Whether a form post comes from this service's own pages, as far as the browser says.

    ``Sec-Fetch-Site`` first: the pages send no referrer, so a browser's ``Origin`` on
    their posts is ``null``; a named origin must be this host.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")
