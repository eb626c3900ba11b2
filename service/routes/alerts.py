"""Alerts: listed by state, and moved on (acknowledged, resolved, dismissed with a reason)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.audit import AuditStore, AuditUnavailableError
from service.audit.alerts import AlertStateError, NoteRequiredError
from service.deps import AuditDep, AuditReader, MetricsDep, RiskWriter, SettingsDep
from service.errors import ApiError, FieldError
from service.recording import audit_unavailable
from service.routes._responses import error_responses
from service.schemas.alerts import AlertDismissal, AlertNote, AlertOut, AlertsOut, AlertState
from service.schemas.alerts import alert_out as _alert_out
from service.security import Caller

router = APIRouter(prefix="/v1/alerts", tags=["caseload and alerts"])

_ACTED = error_responses(400, 401, 403, 404, 409, 413, 422, 429, 503)


@router.get("", responses=error_responses(401, 403, 422, 429, 503), summary="List alerts")
def list_alerts(
    caller: AuditReader,
    audit: AuditDep,
    metrics: MetricsDep,
    settings: SettingsDep,
    state: Annotated[list[AlertState] | None, Query(description="Only these states.")] = None,
) -> AlertsOut:
    """The alerts of the token's clinics, oldest first, each with its latest step and the
    checklist of its kind (a safety alert's starts with the service's risk protocol).
    Scope `audit:read`. The read is logged."""
    try:
        alerts = audit.alerts.alerts(clinics=caller.clinics, states=state)
        audit.reads.record(caller=caller.name, what="alerts")
    except AuditUnavailableError as error:
        raise audit_unavailable(metrics, error) from error
    protocol = settings.safety_protocol
    return AlertsOut(alerts=[_alert_out(alert, protocol=protocol) for alert in alerts])


@router.post("/{alert_id}/acknowledge", responses=_ACTED, summary="Acknowledge an alert")
def acknowledge_alert(
    alert_id: str,
    caller: RiskWriter,
    audit: AuditDep,
    metrics: MetricsDep,
    settings: SettingsDep,
    body: AlertNote | None = None,
) -> AlertOut:
    """Someone has seen the alert and is attending to it; `{"note"}` is optional.
    Scope `risk:write`; the token is recorded as the actor. Another clinic's alert is 404."""
    note = body.note if body is not None else None
    return _act(audit, metrics, settings, alert_id, "acknowledged", caller, note)


@router.post("/{alert_id}/resolve", responses=_ACTED, summary="Resolve an alert")
def resolve_alert(
    alert_id: str,
    caller: RiskWriter,
    audit: AuditDep,
    metrics: MetricsDep,
    settings: SettingsDep,
    body: AlertNote | None = None,
) -> AlertOut:
    """The problem has been attended to; `{"note"}` says how. Scope `risk:write`; the
    token is recorded as the actor. Another clinic's alert is 404; a final one 409."""
    note = body.note if body is not None else None
    return _act(audit, metrics, settings, alert_id, "resolved", caller, note)


@router.post("/{alert_id}/dismiss", responses=_ACTED, summary="Dismiss an alert")
def dismiss_alert(
    alert_id: str,
    body: AlertDismissal,
    caller: RiskWriter,
    audit: AuditDep,
    metrics: MetricsDep,
    settings: SettingsDep,
) -> AlertOut:
    """The alert does not call for action; `{"reason"}` is required (empty: 422).
    Scope `risk:write`; the token is recorded as the actor. Another clinic's alert is 404."""
    return _act(audit, metrics, settings, alert_id, "dismissed", caller, body.reason)


def _act(
    audit: AuditStore,
    metrics: MetricsDep,
    settings: SettingsDep,
    alert_id: str,
    step: str,
    caller: Caller,
    note: str | None,
) -> AlertOut:
    try:
        alert = audit.alerts.act(
            alert_id, step=step, actor=caller.name, note=note, clinics=caller.clinics
        )
    except AlertStateError as error:
        raise ApiError(409, "conflict", str(error)) from None
    except NoteRequiredError as error:
        raise ApiError(
            422,
            "validation_error",
            str(error),
            fields=[FieldError(path="note", message=str(error), type="missing")],
        ) from None
    except AuditUnavailableError as error:
        raise audit_unavailable(metrics, error) from error
    if alert is None:
        raise ApiError(404, "not_found", "no alert is stored under this id")
    return _alert_out(alert, protocol=settings.safety_protocol)
