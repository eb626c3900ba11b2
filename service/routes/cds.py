"""CDS Hooks 2.0: discovery, the patient-view, appointment-book and encounter-start services
(:mod:`service.cds.services`: one scoring path), and card feedback.

Record systems authenticate with the JWT they sign (:mod:`service.cds.auth`), not with our
API tokens; its audience is the exact URL invoked under ``public_base_url``. Discovery
needs no token (api.md), but a token that is sent is checked. Every refused token gets the
same bare 401; the reason is logged with ``iss``, ``kid`` and ``jti``, never the token.
"""

from __future__ import annotations

import functools
import logging
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Path
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.audit import AuditUnavailableError, NewFeedback, UnknownCardError
from service.cds.auth import EhrAuthenticator, EhrCaller, EhrUnauthorizedError
from service.cds.fetch import FhirUnavailableError
from service.cds.hook import gather_record
from service.cds.schemas import (
    CardsOut,
    DiscoveryOut,
    FeedbackIn,
    FeedbackItemIn,
    FeedbackStoredOut,
    HookRequest,
    ReasonIn,
)
from service.cds.services import SERVICES
from service.deps import (
    AuditDep,
    CardIssuerDep,
    EhrAuthDep,
    MetricsDep,
    ServedModelDep,
    SettingsDep,
)
from service.errors import ApiError, ErrorOut, FieldError
from service.observability import ServiceMetrics
from service.recording import audit_unavailable
from service.routes._responses import error_responses
from service.settings import ServiceSettings

_log = logging.getLogger(__name__)

router = APIRouter(prefix="/cds-services", tags=["CDS Hooks"])

_ehr_jwt = HTTPBearer(
    auto_error=False,
    scheme_name="EhrJwt",
    bearerFormat="JWT",
    description="A JWT signed by a trusted record system (CDS Hooks 2.0), "
    "its aud the exact endpoint URL.",
)
EhrCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_ehr_jwt)]
_REFUSED = {
    401: {
        "model": ErrorOut,
        "description": "The record system's JWT was refused (`unauthorized`); "
        "the reason is logged, never answered.",
    }
}
ServiceId = Annotated[str, Path(max_length=64, description="The CDS service's id.")]


async def _authenticate(
    ehr_auth: EhrAuthenticator,
    settings: ServiceSettings,
    metrics: ServiceMetrics,
    credentials: HTTPAuthorizationCredentials | None,
    path: str,
) -> EhrCaller:
    """The record system a JWT proves for ``path``; the same bare 401 for every failure."""
    refused = ApiError(
        401, "unauthorized", "not authorized", headers={"WWW-Authenticate": "Bearer"}
    )
    if credentials is None or credentials.scheme.lower() != "bearer":
        _log.warning("EHR token refused", extra={"event": "cds_token_refused", "reason": "none"})
        raise refused
    audience = f"{settings.public_base_url}{path}"
    try:
        caller = await ehr_auth.verify(credentials.credentials, audience=audience)
    except EhrUnauthorizedError as error:
        _log.warning(
            "EHR token refused",
            extra={"event": "cds_token_refused", "reason": error.reason, **error.facts},
        )
        raise refused from None
    except AuditUnavailableError as error:
        raise audit_unavailable(metrics, error) from error
    return caller


def _known(service_id: str) -> None:
    if service_id not in SERVICES:
        raise ApiError(404, "not_found", "no CDS service has this id; see /cds-services")


# Dependencies, so that they run before the body is validated or the model looked up: a
# caller without a valid token learns nothing about either.


async def _service_caller(
    service_id: ServiceId,
    ehr_auth: EhrAuthDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    credentials: EhrCredentials,
) -> EhrCaller:
    path = f"/cds-services/{service_id}"
    caller = await _authenticate(ehr_auth, settings, metrics, credentials, path)
    _known(service_id)
    return caller


async def _feedback_caller(
    service_id: ServiceId,
    ehr_auth: EhrAuthDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    credentials: EhrCredentials,
) -> EhrCaller:
    path = f"/cds-services/{service_id}/feedback"
    caller = await _authenticate(ehr_auth, settings, metrics, credentials, path)
    _known(service_id)
    return caller


ServiceCaller = Annotated[EhrCaller, Depends(_service_caller)]
FeedbackCaller = Annotated[EhrCaller, Depends(_feedback_caller)]


def _reason(item: FeedbackItemIn) -> ReasonIn | None:
    return item.overrideReason.reason if item.overrideReason is not None else None


@router.get(
    "",
    response_model_exclude_none=True,
    responses={**_REFUSED, **error_responses(429)},
    openapi_extra={"security": [{}, {"EhrJwt": []}]},  # a token is optional here
    summary="CDS Hooks discovery",
)
async def discover(
    ehr_auth: EhrAuthDep, settings: SettingsDep, metrics: MetricsDep, credentials: EhrCredentials
) -> DiscoveryOut:
    """The services offered. No token needed; a record system's JWT, if sent, must be valid
    for this URL."""
    if credentials is not None:
        await _authenticate(ehr_auth, settings, metrics, credentials, "/cds-services")
    return DiscoveryOut(services=list(SERVICES.values()))


@router.post(
    "/{service_id}",
    response_model_exclude_none=True,
    responses={
        **error_responses(400, 404, 413, 422, 429, 503),
        **_REFUSED,
        412: {
            "model": ErrorOut,
            "description": "Prefetch lacked data and the FHIR server could not supply it "
            "(`precondition_failed`).",
        },
    },
    summary="CDS Hooks service (patient-view, appointment-book, encounter-start)",
)
async def call_service(
    caller: ServiceCaller,
    service_id: ServiceId,
    body: HookRequest,
    settings: SettingsDep,
    issuer: CardIssuerDep,
    served: ServedModelDep,
) -> CardsOut:
    """One card with the client's dropout and poor-outcome risk, or none for a low-risk
    client without signals (as configured) or a record that cannot be scored. Needs the
    record system's JWT (aud: this URL). The assessment and card are committed to the
    audit store before the answer. The body's `hook` must be the service's (discovery)."""
    expected = SERVICES[service_id].hook
    if body.hook != expected:
        raise ApiError(
            422,
            "validation_error",
            f"this service answers the {expected} hook",
            fields=[
                FieldError(path="hook", message=f"expected {expected!r}", type="literal_error")
            ],
        )
    try:
        resources = await gather_record(
            body,
            timeout=settings.cds_fhir_timeout_seconds,
            caller=caller,
            allow_private=settings.allow_private_addresses,
        )
    except FhirUnavailableError as error:
        _log.warning(
            "the record could not be gathered",
            extra={"event": "cds_data_unavailable", "reason": str(error), "iss": caller.iss},
        )
        raise ApiError(
            412,
            "precondition_failed",
            "prefetch lacked data and it could not be read from fhirServer",
        ) from None
    issue = functools.partial(
        issuer.assess_and_issue,
        resources,
        body=body,
        service_id=service_id,
        caller=caller,
        served=served,
    )
    return await anyio.to_thread.run_sync(issue)


@router.post(
    "/{service_id}/feedback",
    responses={**error_responses(400, 404, 413, 422, 429, 503), **_REFUSED},
    summary="CDS Hooks card feedback",
)
async def receive_feedback(
    caller: FeedbackCaller,
    service_id: ServiceId,
    body: FeedbackIn,
    audit: AuditDep,
    metrics: MetricsDep,
) -> FeedbackStoredOut:
    """Whether clinicians accepted or overrode our cards, and why; stored in the audit store
    with each card's assessment. Needs the record system's JWT (aud: this URL). A card this
    service never sent to that record system is refused (422) and nothing is stored."""
    items = [
        NewFeedback(
            card_uuid=item.card,
            outcome=item.outcome,
            outcome_timestamp=item.outcomeTimestamp,
            override_system=reason.system if (reason := _reason(item)) else None,
            override_code=reason.code if reason else None,
            user_comment=item.overrideReason.userComment if item.overrideReason else None,
        )
        for item in body.feedback
    ]
    store = functools.partial(
        audit.cards.record_feedback, service_id=service_id, iss=caller.iss, feedback=items
    )
    try:
        stored = await anyio.to_thread.run_sync(store)
    except UnknownCardError as error:
        raise ApiError(
            422,
            "unknown_card",
            "feedback names cards this service did not send you; nothing was stored",
            fields=[
                FieldError(path=f"feedback[{i}].card", message="unknown card", type="unknown_card")
                for i in error.positions
            ],
        ) from None
    except AuditUnavailableError as error:
        raise audit_unavailable(metrics, error) from error
    return FeedbackStoredOut(stored=len(stored))
