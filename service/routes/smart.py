"""SMART App Launch 2 (EHR launch): ``/smart/launch``, ``/smart/callback`` and our public
keys, ``/smart/jwks.json`` (for confidential client registrations).

A clinician opens us from the record: the EHR sends the browser to ``/smart/launch`` with
its ``iss`` and a ``launch`` handle; we send it on to the EHR's authorization server
(:mod:`service.smart.launch`), which sends it back to ``/smart/callback`` with a code.
There we verify who the clinician is and for which patient, open a short-lived session
cookie (:mod:`service.smart.session`) and redirect to that patient's latest report, or,
for a launch without a patient, to the practitioner's caseload. No URL here takes an API
token; every refusal is an HTML page for the clinician, its reason logged with the issuer
only (never a code, a token or a patient).
"""

from __future__ import annotations

import functools
import logging
from typing import Annotated, Any
from urllib.parse import urlencode

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.audit import AuditStore, AuditUnavailableError
from service.deps import AuditDep, LinksDep, SettingsDep, SmartDep
from service.reports.links import LinkSigner
from service.reports.pages import error_page
from service.routes._responses import error_responses
from service.settings import ServiceSettings
from service.smart.discovery import SmartUnavailableError
from service.smart.launch import SmartLauncher
from service.smart.session import (
    SmartSession,
    bind_launch,
    issue_cookie,
    launch_bound,
    practitioner_id,
    unbind_launch,
)
from service.smart.tokens import LaunchRefusedError

_log = logging.getLogger(__name__)

router = APIRouter(prefix="/smart", tags=["SMART App Launch"])


def _page(description: str) -> dict[str, Any]:
    return {"content": {"text/html": {"schema": {"type": "string"}}}, "description": description}


_PAGES: dict[int | str, dict[str, Any]] = {
    302: {"description": "On to the next step (the EHR's authorization server, or the page)."},
    400: _page("A parameter is missing, or the launch expired or was already used."),
    403: _page("The issuer is not registered, or the EHR refused the code or the identity."),
    404: _page("The patient has no report in the issuer's clinics."),
    502: _page("The EHR's discovery, token or key-set endpoint could not be used."),
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
Text = Annotated[str | None, Query(max_length=2048)]
_NOT_THIS_BROWSER = LaunchRefusedError(
    400,
    "This launch was not started in this browser; launch again from the record.",
    reason="no launch cookie for the state",
)
_NOT_A_PRACTITIONER = LaunchRefusedError(
    403,
    "This page is for clinicians: the record system did not name a practitioner as the user.",
    reason="fhirUser is not a Practitioner",
)


@router.get(
    "/launch",
    response_class=HTMLResponse,
    responses=_PAGES,
    summary="SMART EHR launch",
    status_code=302,
)
async def start_launch(smart: SmartDep, iss: Text = None, launch: Text = None) -> Response:
    """Opened by the record system with its FHIR base URL (`iss`) and a `launch` handle:
    redirects to its authorization endpoint (authorization code with PKCE). No token; the
    issuer must be registered in `DROPOUT_RISK_SMART_CLIENTS`."""
    if not iss or not launch:
        return error_page(400, "Open this page from the record system (iss and launch).")
    try:
        url, state = await smart.authorize_url(iss=iss, launch=launch)
    except LaunchRefusedError as error:
        return _refused(error, iss=iss)
    except SmartUnavailableError as error:
        return _unavailable(error, iss=iss)
    except AuditUnavailableError:
        return error_page(503, "The service cannot store the launch now; try again shortly.")
    _log.info("SMART launch started", extra={"event": "smart_launch", "iss": iss})
    response = RedirectResponse(url, status_code=302)
    bind_launch(response, state, lifetime_seconds=smart.launch_seconds)
    return response


@router.get("/jwks.json", summary="Our public keys (confidential SMART clients)")
def our_keys(smart: SmartDep) -> dict[str, list[dict[str, Any]]]:
    """The public keys of our confidential SMART client registrations, as a JWK Set: the
    URL to give a record system's authorization server when registering us for
    `private_key_jwt` (each `kid` is its key's RFC 7638 thumbprint). No token."""
    keys = {}
    for client in smart.clients.values():
        if not client.confidential:
            continue
        try:
            jwk = client.public_jwk()
        except ValueError:  # the key file has gone since start-up: publish the others
            _log.error("a SMART client key cannot be read", extra={"event": "smart_key_unreadable",
                                                                  "iss": client.iss})  # fmt: skip
            continue
        keys[jwk["kid"]] = jwk  # one key may serve several registrations
    return {"keys": list(keys.values())}


@router.get(
    "/callback",
    response_class=HTMLResponse,
    responses=_PAGES,
    summary="SMART launch callback",
    status_code=302,
)
async def callback(
    request: Request,
    smart: SmartDep,
    audit: AuditDep,
    links: LinksDep,
    settings: SettingsDep,
    code: Text = None,
    state: Text = None,
    error: Text = None,
) -> Response:
    """Where the EHR's authorization server returns the browser: exchanges the code, checks
    the id_token, sets the session cookie and redirects to the patient's latest report
    (or the practitioner's caseload). The `state` is single use, and only the browser that
    started the launch may complete it."""
    response = await _complete(
        request,
        smart=smart,
        audit=audit,
        links=links,
        settings=settings,
        code=code,
        state=state,
        error=error,
    )
    if state:
        unbind_launch(response, state)
    return response


async def _complete(
    request: Request,
    *,
    smart: SmartLauncher,
    audit: AuditStore,
    links: LinkSigner,
    settings: ServiceSettings,
    code: str | None,
    state: str | None,
    error: str | None,
) -> Response:
    """The callback's answer, before its launch cookie is cleared."""
    if error is not None:
        _log.warning("SMART authorization refused", extra={"event": "smart_refused",
                                                          "reason": error[:64]})  # fmt: skip
        return error_page(403, "The record system did not authorize this launch.")
    if not state or not launch_bound(request.cookies, state):
        return _refused(_NOT_THIS_BROWSER, iss=None)
    try:
        client, context = await smart.complete(code=code or "", state=state)
    except LaunchRefusedError as refused:
        return _refused(refused, iss=None)
    except SmartUnavailableError as unavailable:
        return _unavailable(unavailable, iss=None)
    except AuditUnavailableError:
        return error_page(503, "The service cannot read the launch now; try again shortly.")
    session = SmartSession(
        iss=client.iss,
        user=context.user,
        patient=context.patient,
        clinics=frozenset(client.clinics),
    )
    # The report and the caseload are for clinicians: a launch by a patient, a related
    # person or nobody named opens neither.
    practitioner = practitioner_id(session.user)
    if practitioner is None:
        return _refused(_NOT_A_PRACTITIONER, iss=client.iss)
    if session.patient is not None:
        response = await _latest_report(audit=audit, settings=settings, session=session)
        target = "report"
    else:
        response = RedirectResponse(_caseload_url(settings, practitioner), status_code=302)
        target = "caseload"
    issue_cookie(response, session, links=links, lifetime_seconds=settings.smart_session_seconds)
    _log.info("SMART session opened",
              extra={"event": "smart_session", "iss": client.iss, "target": target})  # fmt: skip
    return response


async def _latest_report(
    *, audit: AuditStore, settings: ServiceSettings, session: SmartSession
) -> Response:
    """A redirect to the newest report of the session's patient in its clinics, or a 404
    page (a patient of another clinic is not revealed to exist)."""
    assert session.patient is not None
    latest = functools.partial(
        audit.latest_assessment_id, client_id=session.patient, clinics=session.clinics
    )
    try:
        assessment_id = await anyio.to_thread.run_sync(latest)
    except AuditUnavailableError:
        return error_page(503, "The audit store is not answering; please try again shortly.")
    if assessment_id is None:
        return error_page(404, "There is no report of this patient yet.")
    return RedirectResponse(settings.report_url(assessment_id), status_code=302)


def _caseload_url(settings: ServiceSettings, practitioner: str) -> str:
    """The practitioner's caseload page (``GET /caseload?therapist_id=``): a launch without
    a patient in context, from a practitioner's own view of the record."""
    return f"{settings.public_base_url}/caseload?{urlencode({'therapist_id': practitioner})}"


def _refused(error: LaunchRefusedError, *, iss: str | None) -> HTMLResponse:
    _log.warning(
        "SMART launch refused",
        extra={"event": "smart_refused", "reason": error.reason, "iss": (iss or "")[:200]},
    )
    return error_page(error.status, error.message)


def _unavailable(error: SmartUnavailableError, *, iss: str | None) -> HTMLResponse:
    _log.warning(
        "SMART launch failed: the EHR could not be used",
        extra={"event": "smart_unavailable", "reason": str(error), "iss": (iss or "")[:200]},
    )
    return error_page(502, "The record system could not be reached; try again shortly.")
