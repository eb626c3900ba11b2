"""FHIR R4 mapping: a client's Bundle in, RiskAssessments out (docs/fhir.md).

Inbound mapping yields the JSON API's :class:`~service.schemas.AssessmentRequest`, so FHIR,
CDS Hooks and JSON callers are all scored by :func:`service.recording.score_and_record`.
"""

from service.fhir.inbound import (
    FhirEpisode,
    read_bundle,
    read_resources,
    request_from_bundle,
    request_from_resources,
)
from service.fhir.issues import FhirInputError, FhirIssue, operation_outcome
from service.fhir.outbound import (
    check_bundle_invariants,
    check_ras_invariants,
    result_bundle,
    risk_assessments,
)

__all__ = [
    "FhirEpisode",
    "FhirInputError",
    "FhirIssue",
    "check_bundle_invariants",
    "check_ras_invariants",
    "operation_outcome",
    "read_bundle",
    "read_resources",
    "request_from_bundle",
    "request_from_resources",
    "result_bundle",
    "risk_assessments",
]
