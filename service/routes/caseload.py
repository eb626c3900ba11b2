"""The caseload: a therapist's open clients (or the clinic's), most urgent first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.audit import AuditUnavailableError
from service.caseload import read_caseload
from service.deps import AuditDep, AuditReader, MetricsDep, SettingsDep
from service.recording import audit_unavailable
from service.routes._responses import error_responses
from service.schemas.caseload import CaseloadOut, caseload_out

router = APIRouter(prefix="/v1/caseload", tags=["caseload and alerts"])

TherapistQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=128, description="Only this therapist's clients."),
]


@router.get("", responses=error_responses(401, 403, 422, 429, 503), summary="The caseload")
def get_caseload(
    caller: AuditReader,
    audit: AuditDep,
    metrics: MetricsDep,
    settings: SettingsDep,
    therapist_id: TherapistQuery = None,
) -> CaseloadOut:
    """One entry per open episode (assessed, no ending reported) of the token's clinics,
    most urgent first: safety signals, then high risk rising or not yet acknowledged, then
    other open alerts, then by risk. Each with both risks, their change since the client's previous
    assessment, the top factor, signals, active alerts and the risk trend. Without
    `therapist_id`, the whole clinic, with each therapist's alerts and alerts per week.
    Scope `audit:read`. The read is logged."""
    try:
        caseload = read_caseload(audit, clinics=caller.clinics, therapist_id=therapist_id)
        audit.reads.record(caller=caller.name, what="caseload")
    except AuditUnavailableError as error:
        raise audit_unavailable(metrics, error) from error
    return caseload_out(caseload, protocol=settings.safety_protocol)
