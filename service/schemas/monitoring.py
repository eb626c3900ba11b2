"""What ``GET /v1/monitoring`` answers: the report of :func:`monitoring.report.monitor`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from monitoring.alerts import AlertThresholds


class IntervalOut(BaseModel):
    """A point estimate with its 95% client-cluster bootstrap interval (null: undefined)."""

    value: float | None
    low: float | None
    high: float | None


class RealisedOut(BaseModel):
    """Realised performance on assessments whose client's episode has a reported outcome."""

    labelled: int = Field(description="Assessments with a label.")
    clients: int = Field(description="Distinct clients among them.")
    events: int = Field(description="Labelled assessments whose client had the outcome.")
    mean_predicted: float
    observed_rate: float
    auroc: IntervalOut
    brier: IntervalOut
    calibration_in_the_large: IntervalOut = Field(
        description="Observed minus mean predicted rate; above 0: the model under-predicts."
    )


class HistogramOut(BaseModel):
    """Shares of scores in bins cut at ``edges``; the last share is "not recorded"."""

    edges: list[float]
    shares: list[float]


class ScoreSummaryOut(BaseModel):
    """Distribution of one outcome's calibrated probabilities in the window."""

    mean: float
    p10: float
    median: float
    p90: float
    risk_levels: dict[str, float] = Field(description="Share at each risk level.")
    histogram: HistogramOut


class ShiftOut(BaseModel):
    """One of the largest input shifts."""

    name: str = Field(description="A feature, or availability:<measure>.")
    psi: float


class DriftOut(BaseModel):
    """Population stability index against the training population, per input and score."""

    scores: dict[str, float]
    availability: dict[str, float] = Field(description="Per measure: how often it is recorded.")
    features: dict[str, float]
    largest: list[ShiftOut]
    reference_scores: dict[str, HistogramOut] = Field(
        description="Each outcome's score histogram in the training population."
    )


class WindowOut(BaseModel):
    """One model version in one time window."""

    model_version: str
    start: datetime
    end: datetime
    assessments: int
    clients: int
    scores: dict[str, ScoreSummaryOut]
    drift: DriftOut | None
    drift_note: str | None = Field(description="Why drift is missing, when it is.")
    realised: dict[str, RealisedOut | None] = Field(
        description="Per outcome; null until some assessed client's outcome is reported."
    )


class AlertOut(BaseModel):
    """A breached monitoring threshold."""

    code: str = Field(description="input_drift, score_drift, discrimination or calibration.")
    model_version: str
    window_start: datetime
    subject: str = Field(description="The feature, measure availability or outcome.")
    value: float
    threshold: float
    message: str


class AlertThresholdsOut(AlertThresholds):
    """The thresholds in force (settings ``DROPOUT_RISK_MONITORING_*``)."""


class MonitoringOut(BaseModel):
    """Score distribution, input drift and realised performance per version and window."""

    generated_at: datetime
    since: datetime | None
    until: datetime | None
    window_days: float | None
    thresholds: AlertThresholdsOut
    windows: list[WindowOut]
    alerts: list[AlertOut]


class MonitoringStatusOut(BaseModel):
    """The service's own periodic check of its recent assessments (see ``/ready``)."""

    checked_at: datetime | None = Field(description="When the last check finished.")
    period_days: float = Field(description="The trailing period each check covers.")
    alerts: list[AlertOut]
    error: str | None = Field(default=None, description="Why the last check failed, if it did.")
