"""The per-request scoring path: validated request -> history -> features -> bundle.

No pandas and no DataFrame: the request's records go straight into
:meth:`features.history.HistoryBatch.from_records` and the same feature function, booster
and explanation code that training and batch scoring use.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict

from features.history import HistoryBatch
from models.bundle import OutcomeAssessment, RiskModel
from service.schemas import (
    AssessmentRequest,
    AssessmentResponse,
    FactorOut,
    ModelOut,
    OutcomeRiskOut,
    SignalOut,
)


def assess(
    model: RiskModel, request: AssessmentRequest, *, model_name: str, model_version: str
) -> AssessmentResponse:
    """Score one client as of its latest session (capped at the model's last landmark)."""
    warnings = []
    as_of = len(request.sessions)
    if as_of > model.max_landmark:
        warnings.append(
            f"{as_of} sessions were sent; the model predicts from sessions 1 to "
            f"{model.max_landmark}, so this estimate is as of session {model.max_landmark}"
        )
        as_of = model.max_landmark
    history = HistoryBatch.from_records(
        request.client.model_dump(),
        (session.model_dump() for session in request.sessions),
        as_of_session=as_of,
        window=model.max_landmark,
    )
    (result,) = model.assess(history)
    return AssessmentResponse(
        assessment_id=str(uuid.uuid4()),
        client_id=request.client.client_id,
        as_of_session=result.as_of_session,
        model=ModelOut(
            name=model_name,
            version=model_version,
            trained_at=str(model.metadata.get("trained_at")) if model.metadata else None,
        ),
        dropout=_outcome(result.dropout),
        poor_outcome=_outcome(result.poor_outcome),
        signals=[SignalOut(code=s.code, text=s.text) for s in result.signals],
        warnings=warnings,
    )


def _outcome(assessment: OutcomeAssessment) -> OutcomeRiskOut:
    return OutcomeRiskOut(
        probability=round(assessment.probability, 4),
        risk_level=assessment.risk_level,
        factors=[FactorOut(**asdict(factor)) for factor in assessment.factors],
    )
