"""Outcome reports: how episodes ended, stored for monitoring and retraining."""

from __future__ import annotations

from fastapi import APIRouter, status

from service.audit import AuditUnavailableError
from service.deps import AuditDep, MetricsDep, OutcomeWriter, check_clinic
from service.errors import ApiError, FieldError
from service.recording import audit_unavailable
from service.routes._responses import error_responses
from service.schemas.outcomes import OutcomeRecorded, OutcomeReport

router = APIRouter(prefix="/v1/outcomes", tags=["outcomes"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 404, 413, 422, 429, 503),
    summary="Report how an episode ended",
)
def report_outcome(
    body: OutcomeReport, caller: OutcomeWriter, audit: AuditDep, metrics: MetricsDep
) -> OutcomeRecorded:
    """Termination (completed, dropout, referred, ongoing) and end date of a client's
    episode, committed to the audit store before the answer. Scope `outcomes:write`.

    Outcomes are keyed by clinic and client: `clinic_id` names the clinic (it may be left out
    when the token belongs to exactly one) and must be one of the token's (403 otherwise);
    a client never assessed in that clinic is 404, so no clinic can write another's
    episode's ending, nor invent one."""
    clinic_id = body.clinic_id or caller.only_clinic
    if clinic_id is None:
        raise ApiError(
            422,
            "validation_error",
            "clinic_id is required: this token belongs to more than one clinic",
            fields=[FieldError(path="clinic_id", message="required", type="missing")],
        )
    check_clinic(caller, clinic_id)
    try:
        if not audit.has_assessed(clinic_id=clinic_id, client_id=body.client_id):
            raise ApiError(
                404, "not_found", "no assessment of this client is stored in this clinic"
            )
        stored = audit.record_outcome(
            clinic_id=clinic_id,
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
        clinic_id=stored.clinic_id,
        termination=stored.termination,
        end_date=stored.end_date,
    )
