"""What route functions depend on, as ``Annotated`` types (one place, replaceable in tests)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from service.audit import AuditStore
from service.batching import AssessmentBatcher
from service.cds.auth import EhrAuthenticator
from service.cds.hook import CardIssuer
from service.errors import ApiError
from service.lifecycle import ModelKeeper, ServedModel
from service.observability import ServiceMetrics
from service.periodic import PeriodicTask
from service.recording import Recorder
from service.reports.links import LinkSigner
from service.security import Caller, Scope, TokenBook, TokenRefused
from service.settings import ServiceSettings
from service.smart.launch import SmartLauncher
from service.smart.session import COOKIE_NAME, SmartSession, read_cookie
from service.watcher import MonitoringWatcher


@dataclass(frozen=True)
class Runtime:
    """What the app holds while it runs (built by the lifespan in :mod:`service.app`).

    Routes never take it whole: each depends on the narrow things it uses, below.
    """

    settings: ServiceSettings
    keeper: ModelKeeper
    audit: AuditStore
    recorder: Recorder
    batcher: AssessmentBatcher
    tokens: TokenBook
    metrics: ServiceMetrics
    ehr_auth: EhrAuthenticator
    links: LinkSigner
    monitoring: MonitoringWatcher
    card_issuer: CardIssuer
    smart: SmartLauncher
    retention: PeriodicTask | None = None


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_settings(request: Request) -> ServiceSettings:
    """The service's settings."""
    return _runtime(request).settings


async def get_audit(request: Request) -> AuditStore:
    """The audit store."""
    return _runtime(request).audit


async def get_recorder(request: Request) -> Recorder:
    """The one way to score and record (:mod:`service.recording`)."""
    return _runtime(request).recorder


async def get_batcher(request: Request) -> AssessmentBatcher:
    """The micro-batcher of single assessments (:mod:`service.batching`)."""
    return _runtime(request).batcher


async def get_keeper(request: Request) -> ModelKeeper:
    """What serves the model and follows the registry alias."""
    return _runtime(request).keeper


async def get_metrics(request: Request) -> ServiceMetrics:
    """This process's Prometheus metrics."""
    return _runtime(request).metrics


async def get_links(request: Request) -> LinkSigner:
    """The signer of links to the clinician pages."""
    return _runtime(request).links


async def get_tokens(request: Request) -> TokenBook:
    """The configured API tokens."""
    return _runtime(request).tokens


async def get_ehr_auth(request: Request) -> EhrAuthenticator:
    """The verifier of EHR JWTs (CDS Hooks)."""
    return _runtime(request).ehr_auth


async def get_watcher(request: Request) -> MonitoringWatcher:
    """The service's own monitoring."""
    return _runtime(request).monitoring


async def get_card_issuer(request: Request) -> CardIssuer:
    """What scores a record for CDS Hooks and issues its card."""
    return _runtime(request).card_issuer


async def get_smart(request: Request) -> SmartLauncher:
    """What starts and completes SMART launches."""
    return _runtime(request).smart


async def get_smart_session(request: Request) -> SmartSession | None:
    """The SMART session of the request's cookie; None without one, or with a forged,
    expired or orphaned one (its issuer no longer registered)."""
    runtime = _runtime(request)
    return read_cookie(
        request.cookies.get(COOKIE_NAME), links=runtime.links, clients=runtime.smart.clients
    )


# The getters above only read what the app holds; as coroutines they run on the event loop
# instead of costing a worker-thread hop each (several per request).
SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
AuditDep = Annotated[AuditStore, Depends(get_audit)]
RecorderDep = Annotated[Recorder, Depends(get_recorder)]
BatcherDep = Annotated[AssessmentBatcher, Depends(get_batcher)]
KeeperDep = Annotated[ModelKeeper, Depends(get_keeper)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
LinksDep = Annotated[LinkSigner, Depends(get_links)]
TokensDep = Annotated[TokenBook, Depends(get_tokens)]
EhrAuthDep = Annotated[EhrAuthenticator, Depends(get_ehr_auth)]
WatcherDep = Annotated[MonitoringWatcher, Depends(get_watcher)]
CardIssuerDep = Annotated[CardIssuer, Depends(get_card_issuer)]
SmartDep = Annotated[SmartLauncher, Depends(get_smart)]
SmartSessionDep = Annotated[SmartSession | None, Depends(get_smart_session)]


async def get_served_model(keeper: KeeperDep) -> ServedModel:
    """The model serving now, read once for the whole request (503 before one has loaded)."""
    served = keeper.current
    if served is None:
        raise ApiError(
            503,
            "model_unavailable",
            "no model is loaded yet; the service keeps trying the registry (see /ready)",
        )
    return served


ServedModelDep = Annotated[ServedModel, Depends(get_served_model)]

_bearer = HTTPBearer(
    auto_error=False,
    description="An API token from `dropout-risk token create`; each endpoint names its scope.",
)


def require(scope: Scope) -> Callable[..., Caller]:
    """A dependency admitting callers whose token carries ``scope`` (401 / 403 otherwise)."""

    async def _caller(
        request: Request,
        tokens: TokensDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiError(
                401,
                "unauthorized",
                "send an API token: Authorization: Bearer <token>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        token = credentials.credentials
        try:
            # On the event loop unless the lookup would touch the token table (a thread
            # hop per request costs more than the lookup itself).
            if tokens.io_due(token):
                caller = await run_in_threadpool(tokens.caller, token)
            else:
                caller = tokens.caller(token, io=False)
        except TokenRefused as refused:
            raise ApiError(
                401,
                "unauthorized",
                str(refused),
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from None
        if caller is None:
            raise ApiError(
                401,
                "unauthorized",
                "the API token is not known (or has been revoked)",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        request.state.caller = caller.name  # for the access log: a token name, not a person
        if scope not in caller.scopes:
            raise ApiError(
                403,
                "forbidden",
                f"this token lacks the scope {scope.value!r}",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope" scope="{scope}"'},
            )
        return caller

    return _caller


RiskWriter = Annotated[Caller, Depends(require(Scope.RISK_WRITE))]
OutcomeWriter = Annotated[Caller, Depends(require(Scope.OUTCOMES_WRITE))]
ModelReader = Annotated[Caller, Depends(require(Scope.MODELS_READ))]
AuditReader = Annotated[Caller, Depends(require(Scope.AUDIT_READ))]
MetricsReader = Annotated[Caller, Depends(require(Scope.METRICS_READ))]
Admin = Annotated[Caller, Depends(require(Scope.ADMIN))]


def check_clinic(caller: Caller, clinic_id: str) -> None:
    """Refuse (403) a body naming a clinic the caller's token does not belong to."""
    if not caller.sees(clinic_id):
        raise ApiError(
            403,
            "forbidden",
            f"this token does not belong to clinic {clinic_id!r}",
        )
