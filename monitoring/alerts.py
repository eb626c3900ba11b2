"""When monitored figures become alerts: the thresholds, the alert record and the rules.

Cheap to import: the service's settings (:mod:`monitoring.settings`) build on these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from monitoring.report import WindowReport

#: The kinds of alert: an input's or a score's distribution moved away from training, or
#: realised discrimination or calibration fell short once outcomes were reported.
ALERT_CODES = ("input_drift", "score_drift", "discrimination", "calibration")


class AlertThresholds(BaseModel):
    """When a monitored figure becomes an alert (``DROPOUT_RISK_MONITORING_*`` settings).

    Attributes:
        feature_psi: PSI of a feature or of a measure's availability (0.25: a major shift).
        score_psi: PSI of an outcome's score distribution.
        min_assessments: Drift is judged only in windows with at least this many
            assessments (PSI of a small sample is noise).
        min_auroc: Realised AUROC below this is an alert.
        max_calibration_gap: Observed minus expected event rate beyond this, either way.
        min_labelled: Realised metrics are judged only with this many labelled assessments.
    """

    model_config = ConfigDict(frozen=True)

    feature_psi: float = Field(default=0.25, gt=0)
    score_psi: float = Field(default=0.25, gt=0)
    min_assessments: int = Field(default=200, ge=1)
    min_auroc: float = Field(default=0.60, ge=0, le=1)
    max_calibration_gap: float = Field(default=0.05, gt=0, le=1)
    min_labelled: int = Field(default=100, ge=1)


@dataclass(frozen=True)
class MonitoringAlert:
    """One breached threshold of one model version in one window."""

    code: str
    model_version: str
    window_start: datetime
    subject: str
    value: float
    threshold: float
    message: str


def window_alerts(section: WindowReport, thresholds: AlertThresholds) -> list[MonitoringAlert]:
    """The thresholds that one window of a monitoring report breaches."""
    found: list[MonitoringAlert] = []

    def alert(code: str, subject: str, value: float, threshold: float, message: str) -> None:
        found.append(
            MonitoringAlert(
                code, section.model_version, section.start, subject, value, threshold, message
            )
        )

    if section.drift is not None and section.assessments >= thresholds.min_assessments:
        for outcome, psi in section.drift["scores"].items():
            if psi > thresholds.score_psi:
                alert(
                    "score_drift",
                    outcome,
                    psi,
                    thresholds.score_psi,
                    f"{outcome} scores have shifted from training (PSI {psi:.2f})",
                )
        shifted = {**section.drift["features"]}
        shifted |= {f"availability:{m}": v for m, v in section.drift["availability"].items()}
        for name, psi in shifted.items():
            if psi > thresholds.feature_psi:
                alert(
                    "input_drift",
                    name,
                    psi,
                    thresholds.feature_psi,
                    f"{name} has shifted from the training population (PSI {psi:.2f})",
                )
    for outcome, realised in section.realised.items():
        if realised is None or realised["labelled"] < thresholds.min_labelled:
            continue
        auroc = realised["auroc"].value
        if auroc < thresholds.min_auroc:
            alert(
                "discrimination",
                outcome,
                auroc,
                thresholds.min_auroc,
                f"realised {outcome} AUROC {auroc:.2f} is below {thresholds.min_auroc:.2f}",
            )
        gap = realised["calibration_in_the_large"].value
        if abs(gap) > thresholds.max_calibration_gap:
            alert(
                "calibration",
                outcome,
                gap,
                thresholds.max_calibration_gap,
                f"observed {outcome} rate differs from predicted by {gap:+.3f}",
            )
    return found
