"""Monitoring: how the model behaves on the clinic's clients, from the audit store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from service.audit import AuditUnavailableError
from service.deps import AuditReader, MetricsDep, SettingsDep, WatcherDep
from service.errors import ApiError, FieldError
from service.recording import audit_unavailable
from service.routes._responses import error_responses
from service.schemas.monitoring import MonitoringOut

router = APIRouter(prefix="/v1/monitoring", tags=["monitoring"])

#: Shorter windows hold too few assessments to say anything (and would be many).
MIN_WINDOW_DAYS = 1 / 24


@router.get("", responses=error_responses(401, 403, 422, 429, 503), summary="Monitoring report")
def monitoring_report(
    caller: AuditReader,
    settings: SettingsDep,
    watcher: WatcherDep,
    metrics: MetricsDep,
    since: Annotated[
        datetime | None,
        Query(description="Start (ISO 8601 with offset); default: the monitoring period ago."),
    ] = None,
    until: Annotated[
        datetime | None, Query(description="End, exclusive (ISO 8601 with offset); default: now.")
    ] = None,
    window_days: Annotated[
        float | None,
        Query(
            ge=MIN_WINDOW_DAYS,
            le=366,
            description="Window length in days (at least an hour); default: one window.",
        ),
    ] = None,
    model_version: Annotated[
        str | None, Query(min_length=1, max_length=64, description="Only this version.")
    ] = None,
) -> MonitoringOut:
    """Per model version and time window of stored assessments: score distribution, input
    drift against the training population (PSI per feature and per measure's availability;
    for the version serving now), and, once outcomes have been reported, realised AUROC,
    Brier score and calibration-in-the-large with 95% client-cluster bootstrap intervals;
    the alerts the thresholds (`DROPOUT_RISK_MONITORING_*`) raise. Scope `audit:read`; of
    the token's clinics only (an operator's token: every clinic)."""
    _aware("since", since)
    _aware("until", until)
    if until is None:
        until = datetime.now().astimezone()
    if since is None:
        try:
            since = until - timedelta(days=settings.monitoring.period_days)
        except OverflowError:  # an until within the period of year 1
            since = datetime.min.replace(tzinfo=UTC)
    if since >= until:
        raise ApiError(
            422,
            "validation_error",
            "since must be before until",
            fields=[FieldError(path="since", message="must be before until", type="period")],
        )
    try:
        report = watcher.report(
            since=since,
            until=until,
            window=timedelta(days=window_days) if window_days else None,
            model_version=model_version,
            clinics=caller.clinics,
        )
    except AuditUnavailableError as error:
        # The driver's message goes to the log only: it can name hosts, users and tables.
        raise audit_unavailable(metrics, error) from error
    return MonitoringOut.model_validate(report.to_dict())


def _aware(name: str, moment: datetime | None) -> None:
    if moment is not None and moment.utcoffset() is None:
        raise ApiError(
            422,
            "validation_error",
            f"{name} needs a UTC offset, e.g. 2026-11-01T00:00:00Z",
            fields=[FieldError(path=name, message="needs a UTC offset", type="timezone")],
        )
