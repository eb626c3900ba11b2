"""What operators and integrators read: the model serving, readiness, stored assessments."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from service.schemas.monitoring import MonitoringStatusOut


class LevelOut(BaseModel):
    """What one risk level meant on the model's held-out clients."""

    share: float = Field(description="Share of session assessments at this level.")
    clients_flagged_early: float = Field(
        description="Share of clients at this level or above at least once in sessions 1-5."
    )
    observed_rate: float | None = Field(
        description="Share of this level's assessments whose client had the outcome (PPV)."
    )
    sensitivity: float = Field(
        description="Share of the outcome's assessments at this level or above."
    )
    assessments: int
    meaning: str | None = Field(description="The same, in words for a clinician.")


class ThresholdsOut(BaseModel):
    """Probability cut-offs of the risk levels, and what each level meant."""

    moderate: float = Field(description="From this probability on, the level is moderate.")
    high: float = Field(description="From this probability on, the level is high.")
    rule: str = Field(description="How the cut-offs were chosen (the alert budget).")
    levels: dict[str, LevelOut] = Field(
        default_factory=dict, description="Per level, its figures on held-out clients."
    )
    base_rate: float | None = Field(
        default=None, description="The outcome's rate among those held-out assessments."
    )


class OutcomeModelOut(BaseModel):
    """One outcome's predictor: its thresholds, base rate and held-out metrics."""

    thresholds: ThresholdsOut
    base_rate: float = Field(description="Share of training examples with the outcome.")
    metrics: dict[str, float] = Field(
        description="Held-out (test) metrics of the training run: auroc, ece, brier, ..."
    )


class RegistryOut(BaseModel):
    """What the last check of the model registry found."""

    reachable: bool
    checked_at: datetime | None
    error: str | None = None


class CurrentModelOut(BaseModel):
    """The model serving now."""

    name: str
    version: str
    alias: str
    trained_at: str | None
    loaded_at: datetime
    run_id: str | None
    max_landmark: int = Field(description="The last session the model predicts from.")
    gate: dict[str, object] | None = Field(
        default=None,
        description="The promotion gate's verdict on this version: verdict, basis, reasons, "
        "and the override (who, when, why) if a refused version was promoted anyway.",
    )
    outcomes: dict[str, OutcomeModelOut]
    model_card: str = Field(description="The model card, in Markdown.")
    registry: RegistryOut


class ReloadOut(BaseModel):
    """The result of asking the service to follow its alias now."""

    previous_version: str | None
    version: str
    switched: bool


class ReadinessOut(BaseModel):
    """Whether the service can score: a model is loaded and the audit store answers.

    ``degraded``: it scores, but the registry could not be checked (it keeps its model).
    """

    status: Literal["ready", "degraded", "not_ready"]
    model_version: str | None
    database: Literal["ok", "unreachable"]
    registry: RegistryOut
    monitoring: MonitoringStatusOut = Field(
        description="The last periodic monitoring check and its alerts (they do not change "
        "`status`: a drifting model still scores; someone should look)."
    )


class StoredAssessmentOut(BaseModel):
    """An assessment as the audit store holds it."""

    assessment_id: str
    created_at: datetime
    client_id: str
    as_of_session: int
    model_name: str
    model_version: str
    input_sha256: str = Field(description="SHA-256 of the request's canonical JSON.")
    request: dict[str, Any]
    response: dict[str, Any]
    clinic_id: str = Field(description="The clinic that owns the assessment.")
    caller: str = Field(description="Who asked for it: a token's name, or an EHR.")
