"""Probes for orchestrators: alive, and ready to score."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.deps import AuditDep, KeeperDep, WatcherDep
from service.schemas.monitoring import AlertOut, MonitoringStatusOut
from service.schemas.operations import ReadinessOut, RegistryOut

router = APIRouter(tags=["health"])


@router.get("/health", summary="Alive")
def health() -> dict[str, str]:
    """The process answers. No token needed."""
    return {"status": "alive"}


@router.get(
    "/ready",
    summary="Ready to score",
    responses={503: {"model": ReadinessOut, "description": "No model, or no audit store."}},
)
def ready(
    keeper: KeeperDep, audit: AuditDep, watcher: WatcherDep, response: Response
) -> ReadinessOut:
    """200 when a model is loaded and the audit store answers: `ready`, or `degraded` when
    the registry could not be checked (the service keeps serving its model). 503
    `not_ready` otherwise. No token needed."""
    served = keeper.current
    database_ok = audit.ping()
    registry = keeper.status
    if served is None or not database_ok:
        status = "not_ready"
    else:
        status = "ready" if registry.reachable else "degraded"
    if status == "not_ready":
        response.status_code = 503
    return ReadinessOut(
        status=status,
        model_version=served.version if served else None,
        database="ok" if database_ok else "unreachable",
        registry=RegistryOut(**vars(registry)),
        monitoring=_monitoring_status(watcher),
    )


def _monitoring_status(watcher: WatcherDep) -> MonitoringStatusOut:
    status = watcher.status
    return MonitoringStatusOut(
        checked_at=status.checked_at,
        period_days=status.period_days,
        alerts=[AlertOut(**vars(alert)) for alert in status.alerts],
        error=status.error,
    )
