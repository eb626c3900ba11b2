"""The served model: both predictors, their calibrators, thresholds and metadata, as one unit.

A :class:`RiskModel` is what the registry stores and what batch scoring and the service
load. On disk it is a directory: one UBJSON booster per outcome, ``bundle.json`` with the
calibrators, thresholds, feature specification and metadata, the model card, and (for
``evaluate``) the logistic-regression baselines. Loading refuses a bundle whose feature
specification differs from this code's: such a model would silently score wrong inputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import xgboost as xgb
from sklearn.pipeline import Pipeline

from features.engineering import FEATURE_NAMES, compute_features
from features.history import HistoryBatch
from features.signals import Signal, clinical_signals
from features.vocabulary import DEFAULT_FACTORS, OUTCOMES, RISK_LEVELS
from models.calibration import MarginCalibrator
from models.estimators import booster_margin
from models.explanations import Factor, explain, top_factors

BUNDLE_FORMAT = 1


class IncompatibleModelError(ValueError):
    """A saved bundle cannot be served by this code (format or feature specification)."""


@dataclass(frozen=True)
class RiskThresholds:
    """Probability cut-offs of the risk levels: below ``moderate`` is low, from ``high`` high."""

    moderate: float
    high: float
    rule: str

    def level(self, probability: np.ndarray) -> np.ndarray:
        """Risk level of each probability."""
        index = (probability >= self.moderate).astype(int) + (probability >= self.high)
        return np.asarray(RISK_LEVELS, dtype=object)[index]


@dataclass(frozen=True)
class OutcomeModel:
    """The calibrated predictor of one outcome."""

    outcome: str
    booster: xgb.Booster
    calibrator: MarginCalibrator
    thresholds: RiskThresholds
    base_rate: float

    def probability(self, features: np.ndarray) -> np.ndarray:
        """Calibrated probability of the outcome for each feature row."""
        return self.calibrator.probability(booster_margin(self.booster, features))


@dataclass(frozen=True)
class OutcomeAssessment:
    """One outcome's estimate for one history."""

    probability: float
    risk_level: str
    factors: list[Factor]


@dataclass(frozen=True)
class Assessment:
    """Both estimates and the clinical signals for one history."""

    as_of_session: int
    dropout: OutcomeAssessment
    poor_outcome: OutcomeAssessment
    signals: list[Signal]


@dataclass(frozen=True)
class RiskModel:
    """Both outcome models and what is needed to use and describe them."""

    dropout: OutcomeModel
    poor_outcome: OutcomeModel
    max_landmark: int
    metadata: dict[str, object] = field(default_factory=dict)
    model_card: str = ""

    def outcome_model(self, outcome: str) -> OutcomeModel:
        """The model of ``outcome`` (``dropout`` or ``poor_outcome``)."""
        return {"dropout": self.dropout, "poor_outcome": self.poor_outcome}[outcome]

    def assess(self, history: HistoryBatch, *, factors: int = DEFAULT_FACTORS) -> list[Assessment]:
        """Scores, explanations and signals for every history (no pandas on this path)."""
        features = compute_features(history)
        per_outcome = {}
        for outcome in OUTCOMES:
            model = self.outcome_model(outcome)
            explanation = explain(model.booster, model.calibrator, features)
            levels = model.thresholds.level(explanation.probability)
            listed = (
                top_factors(explanation, features, history, outcome=outcome, limit=factors)
                if factors
                else [[] for _ in range(len(history))]
            )
            per_outcome[outcome] = [
                OutcomeAssessment(float(p), str(level), row_factors)
                for p, level, row_factors in zip(
                    explanation.probability, levels, listed, strict=True
                )
            ]
        signals = clinical_signals(features)
        return [
            Assessment(int(k), dropout, poor, row_signals)
            for k, dropout, poor, row_signals in zip(
                history.as_of_session,
                per_outcome["dropout"],
                per_outcome["poor_outcome"],
                signals,
                strict=True,
            )
        ]

    def save(self, directory: Path, *, baselines: dict[str, Pipeline] | None = None) -> Path:
        """Write the bundle to ``directory`` (created if needed)."""
        directory.mkdir(parents=True, exist_ok=True)
        outcomes = {}
        for outcome in OUTCOMES:
            model = self.outcome_model(outcome)
            model.booster.save_model(directory / f"{outcome}.ubj")
            outcomes[outcome] = {
                "calibrator": model.calibrator.to_dict(),
                "thresholds": {
                    "moderate": model.thresholds.moderate,
                    "high": model.thresholds.high,
                    "rule": model.thresholds.rule,
                },
                "base_rate": model.base_rate,
            }
        spec = {
            "format": BUNDLE_FORMAT,
            "feature_names": list(FEATURE_NAMES),
            "max_landmark": self.max_landmark,
            "outcomes": outcomes,
            "metadata": self.metadata,
        }
        (directory / "bundle.json").write_text(json.dumps(spec, indent=2, default=str))
        (directory / "model_card.md").write_text(self.model_card)
        if baselines:
            joblib.dump(baselines, directory / "baselines.joblib")
        return directory

    @classmethod
    def load(cls, directory: Path) -> RiskModel:
        """Read a bundle written by :meth:`save`.

        Raises:
            IncompatibleModelError: the bundle is of another format or feature specification,
                or a file is missing or unreadable.
        """
        try:
            spec = json.loads((directory / "bundle.json").read_text())
            if spec.get("format") != BUNDLE_FORMAT:
                raise IncompatibleModelError(
                    f"bundle format {spec.get('format')!r} is not supported"
                )
            if spec.get("feature_names") != list(FEATURE_NAMES):
                raise IncompatibleModelError(
                    "the bundle was trained on another feature specification"
                )
            models = {}
            for outcome in OUTCOMES:
                entry = spec["outcomes"][outcome]
                booster = xgb.Booster()
                booster.load_model(directory / f"{outcome}.ubj")
                if booster.feature_names not in (None, list(FEATURE_NAMES)):
                    # Scoring skips the per-call name check (see explanations.contributions).
                    raise IncompatibleModelError(
                        f"the {outcome} booster was trained on other features"
                    )
                booster.set_param({"nthread": 1})
                models[outcome] = OutcomeModel(
                    outcome=outcome,
                    booster=booster,
                    calibrator=MarginCalibrator(**entry["calibrator"]),
                    thresholds=RiskThresholds(**entry["thresholds"]),
                    base_rate=float(entry["base_rate"]),
                )
            card_path = directory / "model_card.md"
            card = card_path.read_text() if card_path.exists() else ""
        except IncompatibleModelError:
            raise
        except (OSError, KeyError, TypeError, ValueError, xgb.core.XGBoostError) as error:
            raise IncompatibleModelError(
                f"cannot load model bundle from {directory}: {error}"
            ) from error
        return cls(
            dropout=models["dropout"],
            poor_outcome=models["poor_outcome"],
            max_landmark=int(spec["max_landmark"]),
            metadata=spec.get("metadata", {}),
            model_card=card,
        )


def load_baselines(directory: Path) -> dict[str, Pipeline]:
    """The logistic-regression baselines saved beside a bundle (empty if none were)."""
    path = directory / "baselines.joblib"
    return joblib.load(path) if path.exists() else {}
