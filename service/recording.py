"""Score and record: the one way an assessment is made, whichever API it is asked through.

The JSON API, FHIR and CDS Hooks all turn their input into :class:`AssessmentRequest`s and
call :func:`score_and_record`, which scores with one model version and commits every
assessment to the audit store before returning, so an answer is never sent unrecorded.
"""

from __future__ import annotations

import logging

from service.audit import AuditUnavailableError, NewAssessment
from service.deps import Runtime
from service.errors import ApiError
from service.lifecycle import ServedModel
from service.schemas import AssessmentRequest, AssessmentResponse
from service.scoring import assess_many

_log = logging.getLogger(__name__)


def score_and_record(
    requests: list[AssessmentRequest], served: ServedModel, runtime: Runtime
) -> list[AssessmentResponse]:
    """Score with ``served`` (one version for all) and commit every assessment before return."""
    responses = assess_many(
        served.model,
        requests,
        model_name=served.name,
        model_version=served.version,
        factors=runtime.settings.factors,
    )
    try:
        runtime.audit.record_assessments(
            [
                NewAssessment(
                    assessment_id=response.assessment_id,
                    client_id=response.client_id,
                    as_of_session=response.as_of_session,
                    model_name=served.name,
                    model_version=served.version,
                    request=request.model_dump(mode="json"),
                    response=response.model_dump(mode="json"),
                )
                for request, response in zip(requests, responses, strict=True)
            ]
        )
    except AuditUnavailableError as error:
        raise audit_unavailable(runtime, error) from error
    for response in responses:
        runtime.metrics.assessments.labels("dropout", response.dropout.risk_level).inc()
        runtime.metrics.assessments.labels("poor_outcome", response.poor_outcome.risk_level).inc()
    return responses


def audit_unavailable(runtime: Runtime, error: AuditUnavailableError) -> ApiError:
    """The 503 for a write the audit store did not commit (counted and logged)."""
    runtime.metrics.audit_failures.inc()
    # The store's message names the failure, never the statement's parameters.
    _log.error(str(error), extra={"event": "audit_unavailable"})
    return ApiError(
        503,
        "audit_unavailable",
        "the audit store did not commit, so nothing was acknowledged; retry later",
        headers={"Retry-After": "5"},
    )
