"""The thresholds at which monitored figures become alerts (cheap to import: the service's
settings read their defaults from here)."""

from __future__ import annotations

from dataclasses import dataclass

#: The kinds of alert: an input's or a score's distribution moved away from training, or
#: realised discrimination or calibration fell short once outcomes were reported.
ALERT_CODES = ("input_drift", "score_drift", "discrimination", "calibration")


@dataclass(frozen=True)
class AlertThresholds:
    """When a monitored figure becomes an alert.

    Attributes:
        feature_psi: PSI of a feature or of a measure's availability (0.25: a major shift).
        score_psi: PSI of an outcome's score distribution.
        min_assessments: Drift is judged only in windows with at least this many
            assessments (PSI of a small sample is noise).
        min_auroc: Realised AUROC below this is an alert.
        max_calibration_gap: Observed minus expected event rate beyond this, either way.
        min_labelled: Realised metrics are judged only with this many labelled assessments.
    """

    feature_psi: float = 0.25
    score_psi: float = 0.25
    min_assessments: int = 200
    min_auroc: float = 0.60
    max_calibration_gap: float = 0.05
    min_labelled: int = 100
