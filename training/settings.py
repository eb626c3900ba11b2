"""Training-side settings, read once from the environment (prefix ``DROPOUT_RISK_``).

``MLFLOW_TRACKING_URI`` (MLflow's own variable) points tracking and registry at a server;
without it they live in a SQLite file under the data directory (spec/cli.md).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MODEL_NAME = "dropout-risk"
CHAMPION = "champion"


class TrainingSettings(BaseSettings):
    """Where runs and models are stored, and the promotion gate's tolerances."""

    model_config = SettingsConfigDict(env_prefix="DROPOUT_RISK_", env_ignore_empty=True)

    data_dir: Path = Path("data")
    mlflow_tracking_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("MLFLOW_TRACKING_URI")
    )
    experiment: str = "dropout-risk"
    model_name: str = MODEL_NAME
    #: A challenger may be this much below the champion's AUROC and still be promoted.
    auroc_tolerance: float = Field(default=0.01, ge=0.0, le=0.1)
    #: Calibration bounds a challenger must meet on the held-out clients.
    max_ece: float = Field(default=0.05, gt=0.0, le=0.2)
    calibration_slope_range: tuple[float, float] = (0.8, 1.2)

    @property
    def tracking_uri(self) -> str:
        """The tracking and registry URI in force."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}"

    @property
    def artifact_location(self) -> str | None:
        """Artifact root of new experiments in the local store (the server decides otherwise)."""
        if self.mlflow_tracking_uri:
            return None
        return (self.data_dir / "mlartifacts").resolve().as_uri()
