"""Outcome reports: how episodes ended, stored for monitoring and retraining."""

from __future__ import annotations

from fastapi import APIRouter, status

from service.audit import AuditUnavailableError
from service.deps import AuditDep, MetricsDep, OutcomeWriter
from service.recording import audit_unavailable
from service.routes._responses import error_responses
from service.schemas.outcomes import OutcomeRecorded, OutcomeReport

router = APIRouter(prefix="/v1/outcomes", tags=["outcomes"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 413, 422, 429, 503),
    summary="Report how an episode ended",
)
def report_outcome(
    body: OutcomeReport, caller: OutcomeWriter, audit: AuditDep, metrics: MetricsDep
) -> OutcomeRecorded:
    """Termination (completed, dropout, referred, ongoing) and end date of a client's
    episode, committed to the audit store before the answer. Scope `outcomes:write`."""
    try:
        stored = audit.record_outcome(
            client_id=body.client_id,
            termination=body.termination,
            end_date=body.end_date,
            reported_by=caller.name,
        )
    except AuditUnavailableError as error:
        raise audit_unavailable(metrics, error) from error
    return OutcomeRecorded(
        outcome_id=stored.outcome_id,
        recorded_at=stored.created_at,
        client_id=stored.client_id,
        termination=stored.termination,
        end_date=stored.end_date,
    )
