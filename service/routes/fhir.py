"""FHIR R4: score a client sent as a FHIR Bundle, answer with RiskAssessments; read a
patient's alerts as Flags."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from service.audit import AuditUnavailableError
from service.deps import (
    AuditDep,
    AuditReader,
    MetricsDep,
    RecorderDep,
    RiskWriter,
    ServedModelDep,
    check_clinic,
)
from service.fhir import (
    FhirInputError,
    FhirIssue,
    operation_outcome,
    read_bundle,
    result_bundle,
    risk_assessments,
)
from service.fhir.examples import EXAMPLE_BUNDLE
from service.fhir.flags import flag_bundle
from service.recording import audit_unavailable
from service.routes._responses import error_responses

FHIR_JSON = "application/fhir+json"
#: Media types read as FHIR JSON; a request without a Content-Type is read as JSON too.
_JSON_MEDIA = frozenset({FHIR_JSON, "application/json"})

router = APIRouter(tags=["FHIR R4"])


async def _raw_body(request: Request) -> tuple[str, bytes]:
    """The media type and the unparsed body: FastAPI's own JSON errors are not FHIR."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media, await request.body()


RawBody = Annotated[tuple[str, bytes], Depends(_raw_body)]

_OUTCOME_SCHEMA = {
    "type": "object",
    "description": "FHIR R4 OperationOutcome: one issue per problem, its path in expression.",
    "properties": {"resourceType": {"const": "OperationOutcome"}, "issue": {"type": "array"}},
}


def _outcome_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {FHIR_JSON: {"schema": _OUTCOME_SCHEMA}}}


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A `collection` Bundle of two RiskAssessments: dropout, poor outcome.",
        "content": {FHIR_JSON: {"schema": {"type": "object"}}},
    },
    400: _outcome_response("The body is not JSON (OperationOutcome, code `structure`)."),
    415: _outcome_response("The body is not FHIR JSON (OperationOutcome, `not-supported`)."),
    422: _outcome_response(
        "Not a Bundle we can read, or a client that breaks the data contract: an "
        "OperationOutcome with every problem, each at its path in `issue[].expression`."
    ),
    **error_responses(401, 403, 413, 429, 503),
}
_BODY = {"type": "object", "description": "A FHIR R4 Bundle (collection or searchset)."}


@router.post(
    "/fhir/r4/$assess-dropout-risk",
    summary="Score a client sent as a FHIR Bundle",
    response_class=Response,
    responses=_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                FHIR_JSON: {"schema": _BODY, "example": EXAMPLE_BUNDLE},
                "application/json": {"schema": _BODY},
            },
        }
    },
)
def assess_dropout_risk(
    caller: RiskWriter, raw: RawBody, served: ServedModelDep, recorder: RecorderDep
) -> Response:
    """FHIR operation `$assess-dropout-risk`. Scope `risk:write`.

    The body is one client's Bundle (`collection` or `searchset`): the Patient, the episode's
    Encounters (and `noshow` Appointments), Observations of questionnaire totals (PHQ-9
    LOINC 44261-6, GAD-7 LOINC 70274-6; SRS, ORS, OQ-45.2 and WAI-SR in our code system),
    PHQ-9/GAD-7 QuestionnaireResponses or item Observations, and optionally the
    EpisodeOfCare (see docs/fhir.md). It is scored exactly as `POST /v1/risk-assessments`
    would score the same client, and recorded in the audit store first. The answer is a
    `collection` Bundle of two RiskAssessments (dropout, poor outcome) whose `identifier` is
    the assessment id.
    Bad input gets an OperationOutcome listing every problem at its FHIR path (400 not
    JSON, 415 not FHIR JSON, 422 otherwise); missing or insufficient tokens and 503s are
    answered in the JSON API's error shape, as on every other endpoint, and so is a Bundle
    whose clinic (Encounter.serviceProvider or Patient.managingOrganization) is not one of
    the token's (403)."""
    media, body = raw
    if media and media not in _JSON_MEDIA:
        message = f"send the Bundle as {FHIR_JSON} (or application/json), not {media}"
        return _problem(415, [FhirIssue("Bundle", message, "not-supported")])
    try:
        document = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        # Not JSON (or invalid UTF-8, or NaN, or nesting beyond the parser's depth).
        return _problem(400, [FhirIssue("Bundle", "the body is not valid JSON", "structure")])
    try:
        # A record system serving one clinic need not name it: the token's clinic is used.
        episode = read_bundle(document, default_clinic=caller.only_clinic)
    except FhirInputError as error:
        return _problem(422, error.issues)
    check_clinic(caller, episode.request.client.clinic_id)
    (response,) = recorder.score_and_record(
        [episode.request], served, [episode.warnings], caller=caller.name
    )
    now = datetime.now(UTC)
    resources = risk_assessments(
        response,
        patient_reference=episode.patient_reference,
        basis_references=episode.basis(response.as_of_session),
        occurrence=now,
    )
    return _fhir(200, result_bundle(resources, timestamp=now))


@router.get(
    "/fhir/r4/Flag",
    summary="A patient's alerts as FHIR Flags",
    response_class=Response,
    responses={
        200: {
            "description": "A `searchset` Bundle of Flags, one per alert of the patient.",
            "content": {FHIR_JSON: {"schema": {"type": "object"}}},
        },
        **error_responses(401, 403, 422, 429, 503),
    },
)
def search_flags(
    caller: AuditReader,
    audit: AuditDep,
    metrics: MetricsDep,
    patient: Annotated[
        str,
        Query(
            min_length=1,
            max_length=136,
            description="The patient as `Patient/<id>` or `<id>` (the client id).",
        ),
    ],
) -> Response:
    """The patient's alerts (every state) as R4 Flags, oldest first: `active` while open or
    acknowledged, `inactive` once resolved or dismissed (see docs/caseload.md).
    Scope `audit:read`; only the token's clinics' alerts (another clinic's patient: an
    empty Bundle). The read is logged."""
    client_id = patient.removeprefix("Patient/")
    try:
        alerts = audit.alerts.alerts(clinics=caller.clinics, client_ids=[client_id])
        for clinic in sorted({alert.clinic_id for alert in alerts}):
            audit.reads.record(
                caller=caller.name, what="flags", clinic_id=clinic, client_id=client_id
            )
    except AuditUnavailableError as error:
        raise audit_unavailable(metrics, error) from error
    return _fhir(200, flag_bundle(alerts, timestamp=datetime.now(UTC)))


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _problem(status: int, issues: list[FhirIssue]) -> Response:
    return _fhir(status, operation_outcome(issues))


def _fhir(status: int, resource: dict[str, Any]) -> Response:
    return Response(json.dumps(resource), status_code=status, media_type=FHIR_JSON)
