"""The per-request scoring path: validated requests -> histories -> features -> bundle.

No pandas and no DataFrame: each request's records go straight into
:meth:`features.history.HistoryBatch.from_records`, and a batch of requests is scored in one
call of the same feature function, boosters and explanation code that training and batch
scoring use.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from features.history import HistoryBatch
from features.vocabulary import DEFAULT_FACTORS
from models.bundle import OutcomeAssessment, OutcomeModel, RiskModel
from models.risk_levels import level_meaning
from service.schemas import (
    AssessmentRequest,
    AssessmentResponse,
    ExplanationOut,
    FactorOut,
    ModelOut,
    OutcomeRiskOut,
    SignalOut,
)


def assess(
    model: RiskModel,
    request: AssessmentRequest,
    *,
    model_name: str,
    model_version: str,
    factors: int = DEFAULT_FACTORS,
) -> AssessmentResponse:
    """Score one client as of its latest session (capped at the model's last landmark)."""
    (response,) = assess_many(
        model, [request], model_name=model_name, model_version=model_version, factors=factors
    )
    return response


def assess_many(
    model: RiskModel,
    requests: Sequence[AssessmentRequest],
    *,
    model_name: str,
    model_version: str,
    factors: int = DEFAULT_FACTORS,
    digits: int | None = 4,
) -> list[AssessmentResponse]:
    """Score each client as of its latest session, all in one pass through the model.

    Args:
        model: The bundle to score with.
        requests: Validated requests (at least one).
        model_name: Registered name of ``model``, reported in each response.
        model_version: Its registered version, reported in each response.
        factors: Factors listed per outcome.
        digits: Decimals of the probabilities and their intervals; None keeps them exact
            (bulk scoring, whose probabilities equal ``dropout-risk score``'s).

    Returns:
        One response per request, in order, each with a new assessment id.
    """
    warnings = [_landmark_warning(len(r.sessions), model.max_landmark) for r in requests]
    history = HistoryBatch.from_each_record(
        [
            (
                request.client.model_dump(),
                [session.model_dump() for session in request.sessions],
                min(len(request.sessions), model.max_landmark),
            )
            for request in requests
        ],
        window=model.max_landmark,
    )
    trained_at = model.metadata.get("trained_at") if model.metadata else None
    identity = ModelOut(
        name=model_name,
        version=model_version,
        trained_at=None if trained_at is None else str(trained_at),
    )
    return [
        AssessmentResponse(
            assessment_id=str(uuid.uuid4()),
            client_id=request.client.client_id,
            as_of_session=result.as_of_session,
            model=identity,
            dropout=_outcome(result.dropout, model.dropout, "dropout", digits),
            poor_outcome=_outcome(result.poor_outcome, model.poor_outcome, "poor_outcome", digits),
            signals=[SignalOut(code=s.code, text=s.text) for s in result.signals],
            data_gaps=result.data_gaps,
            warnings=([warning] if warning else []) + result.warnings,
        )
        for request, result, warning in zip(
            requests, model.assess(history, factors=factors), warnings, strict=True
        )
    ]


def _landmark_warning(sessions: int, max_landmark: int) -> str | None:
    if sessions <= max_landmark:
        return None
    return (
        f"{sessions} sessions were sent; the model predicts from sessions 1 to "
        f"{max_landmark}, so this estimate is as of session {max_landmark}"
    )


def _outcome(
    assessment: OutcomeAssessment, model: OutcomeModel, key: str, digits: int | None = 4
) -> OutcomeRiskOut:
    def rounded(value: float) -> float:
        return float(value) if digits is None else round(value, digits)

    return OutcomeRiskOut(
        probability=rounded(assessment.probability),
        # Rounding is monotone, so the rounded interval still contains the rounded point.
        probability_interval=(
            rounded(assessment.probability_low),
            rounded(assessment.probability_high),
        ),
        risk_level=assessment.risk_level,
        outcome=assessment.outcome,
        risk_level_meaning=level_meaning(key, assessment.risk_level, model.thresholds),
        base_rate=round(model.base_rate, 4),
        factors=[
            FactorOut(
                feature=factor.feature,
                label=factor.label,
                value=factor.value,
                effect=factor.effect,
                direction=factor.direction,
                text=factor.text,
            )
            for factor in assessment.factors
        ],
        # Unrounded, so that the parts add up to the probability exactly (to float precision).
        explanation=ExplanationOut(
            base_probability=assessment.base_probability,
            concepts=assessment.concept_effects,
            data_gaps=assessment.data_gap_effect,
        ),
    )
