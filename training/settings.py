"""Training-side settings, read once from the environment (prefix ``DROPOUT_RISK_``).

Where the MLflow store is and the model's name come from
:class:`models.registry_store.RegistryLocation`, shared with the service.
"""

from __future__ import annotations

from pydantic import Field

from models.registry_store import CHAMPION, MODEL_NAME, RegistryLocation

__all__ = ["CHAMPION", "MODEL_NAME", "TrainingSettings"]


class TrainingSettings(RegistryLocation):
    """Where runs and models are stored, and the promotion gate's tolerances."""

    experiment: str = "dropout-risk"
    #: A challenger may be this much below the champion's AUROC and still be promoted.
    auroc_tolerance: float = Field(default=0.01, ge=0.0, le=0.1)
    #: Calibration bounds a challenger must meet on the held-out clients.
    max_ece: float = Field(default=0.05, gt=0.0, le=0.2)
    calibration_slope_range: tuple[float, float] = (0.8, 1.2)
