"""Risk assessments: score one client or many, and read back a stored assessment."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import ValidationError

from service.audit import AuditUnavailableError
from service.deps import (
    AuditDep,
    AuditReader,
    BatcherDep,
    MetricsDep,
    RecorderDep,
    RiskWriter,
    ServedModelDep,
    SettingsDep,
    check_clinic,
)
from service.errors import ApiError, ErrorOut, FieldError, field_errors
from service.recording import audit_unavailable
from service.routes._responses import error_responses
from service.schemas import AssessmentRequest, AssessmentResponse
from service.schemas.batch import BatchItemOut, BatchRequest, BatchResponse
from service.schemas.operations import StoredAssessmentOut

router = APIRouter(prefix="/v1/risk-assessments", tags=["risk assessments"])


@router.post(
    "",
    response_model=AssessmentResponse,
    responses=error_responses(400, 401, 403, 413, 422, 429, 503),
    summary="Score one client",
)
async def create_assessment(
    body: AssessmentRequest, caller: RiskWriter, served: ServedModelDep, batcher: BatcherDep
) -> Response:
    """Calibrated dropout and poor-outcome risk as of the client's latest session, the factors
    behind each, and clinical signals. Scope `risk:write`; the client's clinic must be one
    of the token's (403 otherwise). The response is sent only after the assessment is
    committed to the audit store."""
    check_clinic(caller, body.client.clinic_id)
    response = await batcher.assess(body, served, caller=caller.name)
    # Serialised once, by the model that built it: FastAPI would validate it again first.
    return Response(response.model_dump_json(), media_type="application/json")


@router.post(
    "/batch",
    responses=error_responses(400, 401, 403, 413, 422, 429, 503),
    summary="Score many clients",
)
def create_assessments(
    body: BatchRequest,
    caller: RiskWriter,
    served: ServedModelDep,
    recorder: RecorderDep,
    settings: SettingsDep,
) -> BatchResponse:
    """Each client as in `POST /v1/risk-assessments`; one result or one error per client, in
    request order (a client that breaks the contract does not stop the others). All
    assessments are committed together before the response. Scope `risk:write`; a batch
    naming a clinic not of the token's is refused whole (403), nothing scored."""
    limit = settings.max_batch
    if len(body.assessments) > limit:
        raise ApiError(
            422,
            "validation_error",
            f"a batch holds at most {limit} clients; split it",
            fields=[
                FieldError(path="assessments", message=f"at most {limit} items", type="too_long")
            ],
        )
    valid: list[tuple[int, AssessmentRequest]] = []
    results: dict[int, BatchItemOut] = {}
    for index, item in enumerate(body.assessments):
        try:
            valid.append((index, AssessmentRequest.model_validate(item)))
        except ValidationError as error:
            fields = field_errors(error.errors())
            results[index] = BatchItemOut(
                index=index,
                status="error",
                error=ErrorOut(
                    code="validation_error",
                    message=f"this client breaks the contract in {len(fields)} place(s)",
                    fields=fields,
                ),
            )
    for _, request in valid:
        check_clinic(caller, request.client.clinic_id)
    if valid:
        requests = [request for _, request in valid]
        responses = recorder.score_and_record(requests, served, caller=caller.name)
        for (index, _), response in zip(valid, responses, strict=True):
            results[index] = BatchItemOut(index=index, status="ok", assessment=response)
    ordered = [results[index] for index in range(len(body.assessments))]
    return BatchResponse(results=ordered, succeeded=len(valid), failed=len(ordered) - len(valid))


@router.get(
    "/{assessment_id}",
    responses=error_responses(401, 403, 404, 429, 503),
    summary="Read a stored assessment",
)
def read_assessment(
    assessment_id: str, caller: AuditReader, audit: AuditDep, metrics: MetricsDep
) -> StoredAssessmentOut:
    """The assessment as the audit store holds it: input, its hash, output, model version.
    Scope `audit:read`; another clinic's assessment is 404, as if it did not exist. The
    read is logged (who, which assessment, when)."""
    try:
        stored = audit.get_assessment(assessment_id, clinics=caller.clinics)
        if stored is not None:
            audit.reads.record(
                caller=caller.name,
                what="assessment",
                subject_id=stored.assessment_id,
                clinic_id=stored.clinic_id,
                client_id=stored.client_id,
            )
    except AuditUnavailableError as error:
        raise audit_unavailable(metrics, error) from error
    if stored is None:
        raise ApiError(404, "not_found", "no assessment is stored under this id")
    return StoredAssessmentOut(
        **{k: v for k, v in vars(stored).items() if k in StoredAssessmentOut.model_fields}
    )
