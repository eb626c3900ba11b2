"""The clinician's pages: one report per stored assessment, and the model card it links to.

A page opens with an API token carrying the scope (header, for record systems that proxy
it) or with a short-lived signed link, which is what a record-system card carries: it is
bound to one assessment (or one model version) and expires. A report also opens in the
session a SMART launch opened (its cookie): only its issuer's clinics, and for a patient
launch only that patient.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from models.bundle import IncompatibleModelError
from models.registry_store import download_model
from service.audit import AuditUnavailableError
from service.deps import AuditDep, KeeperDep, LinksDep, SettingsDep, SmartSessionDep, TokensDep
from service.reports.links import model_card_subject, report_subject
from service.reports.pages import error_page, model_card_page, report_page
from service.reports.view import report_view
from service.routes._pages import HTML_RESPONSES, Expires, Signature, page_caller, session_only
from service.security import Caller, Scope
from service.smart.session import SmartSession

router = APIRouter(tags=["clinician pages"])


@router.get(
    "/reports/{assessment_id}",
    response_class=HTMLResponse,
    responses=HTML_RESPONSES,
    summary="The clinician report of an assessment",
)
def read_report(
    assessment_id: str,
    request: Request,
    audit: AuditDep,
    links: LinksDep,
    tokens: TokensDep,
    session: SmartSessionDep,
    expires: Expires = None,
    signature: Signature = None,
) -> HTMLResponse:
    """Both risks in words and numbers, the factors, signals, charts against the expected
    recovery, and how to read it. Scope `audit:read` (bearer token of the assessment's
    clinic; another clinic's is 404), a signed link (bound to this one assessment) or the
    session cookie of a SMART launch (its issuer's clinics; a patient launch: that
    patient). The read is logged."""
    verdict: HTMLResponse | Caller | SmartSession | None
    if session_only(request, session=session, expires=expires, signature=signature):
        verdict = session
        request.state.caller = "smart-session"  # the access log names no person
    else:
        verdict = page_caller(request, links=links, tokens=tokens, scope=Scope.AUDIT_READ,
                              subject=report_subject(assessment_id), expires=expires,
                              signature=signature)  # fmt: skip
    if isinstance(verdict, HTMLResponse):
        return verdict
    clinics = verdict.clinics if verdict is not None else None
    try:
        stored = audit.get_assessment(assessment_id, clinics=clinics)
        if isinstance(verdict, SmartSession) and stored is not None:
            seen = verdict.sees(clinic_id=stored.clinic_id, client_id=stored.client_id)
            stored = stored if seen else None  # another patient's: not revealed to exist
        if stored is not None:
            audit.reads.record(
                caller=verdict.name if verdict is not None else "signed-link",
                what="report",
                subject_id=stored.assessment_id,
                clinic_id=stored.clinic_id,
                client_id=stored.client_id,
            )
    except AuditUnavailableError:
        return error_page(503, "The audit store is not answering; please try again shortly.")
    if stored is None:
        return error_page(404, "There is no assessment with this id.")
    card_link = f"/models/{stored.model_version}/card?" + links.query(
        model_card_subject(stored.model_version)
    )
    return HTMLResponse(report_page(report_view(stored), model_card_url=card_link))


@router.get(
    "/models/{version}/card",
    response_class=HTMLResponse,
    responses=HTML_RESPONSES,
    summary="The model card of a version",
)
def read_model_card(
    version: str,
    request: Request,
    keeper: KeeperDep,
    settings: SettingsDep,
    links: LinksDep,
    tokens: TokensDep,
    expires: Expires = None,
    signature: Signature = None,
) -> HTMLResponse:
    """How the model was built and tested, its metrics and limits, rendered from the card
    registered with the version. Scope `models:read` (bearer token) or a signed link."""
    refused = page_caller(request, links=links, tokens=tokens, scope=Scope.MODELS_READ,
                          subject=model_card_subject(version), expires=expires,
                          signature=signature)  # fmt: skip
    if isinstance(refused, HTMLResponse):
        return refused
    served = keeper.current
    if served is not None and served.version == version:
        card = served.model.model_card
    else:
        from mlflow.exceptions import MlflowException  # here: importing MLflow takes seconds

        try:
            card = download_model(settings, version).model_card
        except (MlflowException, IncompatibleModelError, OSError):
            return error_page(404, f"No model card of version {version} could be found.")
    name = settings.model_name
    return HTMLResponse(model_card_page(name=name, version=version, card_markdown=card))
