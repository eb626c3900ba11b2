"""The bundle as an MLflow pyfunc, so ``mlflow models serve`` can load it too.

Input: one row per history with the feature columns of
:data:`features.engineering.FEATURE_NAMES` (missing = NaN). Output: both calibrated
probabilities and risk levels. The service does not use this wrapper: it loads the bundle
directly and scores from the request without pandas.
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from features.engineering import FEATURE_NAMES
from features.vocabulary import OUTCOMES
from models.bundle import RiskModel

BUNDLE_ARTIFACT = "bundle"


class RiskModelPyfunc(mlflow.pyfunc.PythonModel):
    """Scores feature rows with the bundle logged as the ``bundle`` artifact."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.model_ = RiskModel.load(Path(context.artifacts[BUNDLE_ARTIFACT]))

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        model_input: pd.DataFrame,
        params: dict | None = None,
    ) -> pd.DataFrame:
        del context, params  # the bundle holds everything
        features = model_input.reindex(columns=list(FEATURE_NAMES)).to_numpy(dtype=float)
        return prediction_frame(self.model_, features)


def prediction_frame(model: RiskModel, features: np.ndarray) -> pd.DataFrame:
    """Probabilities and risk levels of both outcomes for each feature row."""
    columns = {}
    for outcome in OUTCOMES:
        outcome_model = model.outcome_model(outcome)
        probability = outcome_model.probability(features)
        columns[f"{outcome}_probability"] = probability
        columns[f"{outcome}_risk_level"] = outcome_model.thresholds.level(probability)
    return pd.DataFrame(columns)
