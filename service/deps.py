"""What route functions depend on, as ``Annotated`` types (one place, replaceable in tests)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.audit import AuditStore
from service.cds.auth import EhrAuthenticator
from service.errors import ApiError
from service.lifecycle import ModelKeeper, ServedModel
from service.monitoring import MonitoringWatcher
from service.observability import ServiceMetrics
from service.reports.links import LinkSigner
from service.security import Caller, Scope, TokenBook
from service.settings import ServiceSettings


@dataclass(frozen=True)
class Runtime:
    """What the app holds while it runs (built by the lifespan in :mod:`service.app`)."""

    settings: ServiceSettings
    keeper: ModelKeeper
    audit: AuditStore
    tokens: TokenBook
    metrics: ServiceMetrics
    ehr_auth: EhrAuthenticator
    links: LinkSigner
    monitoring: MonitoringWatcher


def get_runtime(request: Request) -> Runtime:
    """The running app's :class:`Runtime`."""
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_served_model(runtime: RuntimeDep) -> ServedModel:
    """The model serving now, read once for the whole request (503 before one has loaded)."""
    served = runtime.keeper.current
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

    def _caller(
        request: Request,
        runtime: RuntimeDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiError(
                401,
                "unauthorized",
                "send an API token: Authorization: Bearer <token>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        caller = runtime.tokens.caller(credentials.credentials)
        if caller is None:
            raise ApiError(
                401,
                "unauthorized",
                "the API token is not known",
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
