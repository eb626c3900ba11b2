"""Request and response models of the REST API (shared/spec/api.md)."""

from service.schemas.assessments import (
    MAX_SESSIONS,
    AssessmentRequest,
    AssessmentResponse,
    ClientIn,
    ExplanationOut,
    FactorOut,
    ModelOut,
    OutcomeRiskOut,
    SessionIn,
    SignalOut,
)

__all__ = [
    "MAX_SESSIONS",
    "AssessmentRequest",
    "AssessmentResponse",
    "ClientIn",
    "ExplanationOut",
    "FactorOut",
    "ModelOut",
    "OutcomeRiskOut",
    "SessionIn",
    "SignalOut",
]
