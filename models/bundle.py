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
from functools import cached_property
from pathlib import Path

import joblib
import numpy as np
import xgboost as xgb
from sklearn.pipeline import Pipeline

from features.engineering import CONCEPTS, FEATURE_NAMES, compute_features
from features.history import HistoryBatch
from features.labels import LABEL_REVISION, start_in_clinical_range
from features.signals import Signal, clinical_signals
from features.vocabulary import DEFAULT_FACTORS, OUTCOMES
from models.calibration import MarginCalibrator
from models.estimators import booster_margin
from models.explanations import (
    TOO_LITTLE_WARNING,
    Factor,
    data_gaps,
    explain,
    gap_mask,
    outcome_name,
    outcome_phrase,
    scoring_matrix,
    too_little_to_go_on,
    top_factors,
)
from models.intervals import VennAbersInterval
from models.risk_levels import RiskThresholds
from models.sentence_inputs import ClientHistory, ReferenceProfile
from models.shap_tables import ShapTables

BUNDLE_FORMAT = 1


class IncompatibleModelError(ValueError):
    """A saved bundle cannot be served by this code (format or feature specification)."""


@dataclass(frozen=True)
class OutcomeModel:
    """The calibrated predictor of one outcome."""

    outcome: str
    booster: xgb.Booster
    calibrator: MarginCalibrator
    thresholds: RiskThresholds
    base_rate: float
    interval: VennAbersInterval

    def probability(self, features: np.ndarray, *, rows: np.ndarray | None = None) -> np.ndarray:
        """Calibrated probability of the outcome for each feature row (of ``features[rows]``,
        predicted block by block)."""
        return self.calibrator.probability(booster_margin(self.booster, features, rows=rows))

    @cached_property
    def shap_tables(self) -> ShapTables | None:
        """The booster's TreeSHAP tables (None: XGBoost explains it), built on first use;
        :meth:`RiskModel.load` builds them before a loaded model scores."""
        return ShapTables.of(self.booster)


@dataclass(frozen=True)
class OutcomeAssessment:
    """One outcome's estimate for one history.

    Attributes:
        probability: the calibrated probability.
        probability_low: the lower end of its Venn-Abers interval (:mod:`models.intervals`).
        probability_high: the upper end; ``probability_low <= probability <= probability_high``.
        risk_level: ``low``, ``moderate`` or ``high``.
        factors: the largest contributions of recorded data, in words.
        outcome: the outcome in the clinician's words for this client ("dropout", "no
            reliable recovery" or, for a client who started below the clinical range,
            "reliable deterioration").
        base_probability: the model's estimate before this client's data.
        data_gap_effect: the contribution of what was never recorded (probability scale).
        concept_effects: every clinical concept's contribution (probability scale); with
            ``base_probability`` and ``data_gap_effect`` they sum to ``probability``.
    """

    probability: float
    probability_low: float
    probability_high: float
    risk_level: str
    factors: list[Factor]
    outcome: str = ""
    base_probability: float = float("nan")
    data_gap_effect: float = 0.0
    concept_effects: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Assessment:
    """Both estimates, the clinical signals and what could not be judged, for one history.

    Attributes:
        as_of_session: the landmark k.
        dropout: the dropout estimate.
        poor_outcome: the poor-outcome estimate.
        signals: rule-based clinical signals, safety first.
        data_gaps: what was never recorded so far, in the clinician's words.
        warnings: what a reader must know to weigh the estimates (too little to go on).
    """

    as_of_session: int
    dropout: OutcomeAssessment
    poor_outcome: OutcomeAssessment
    signals: list[Signal]
    data_gaps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class _WideBoosters:
    """Copies of the boosters that predict on several threads, and the smallest batch (in
    rows) they are used for (:meth:`RiskModel.use_threads`)."""

    boosters: dict[str, xgb.Booster] = field(default_factory=dict)
    from_rows: int = 1


@dataclass(frozen=True)
class RiskModel:
    """Both outcome models and what is needed to use and describe them."""

    dropout: OutcomeModel
    poor_outcome: OutcomeModel
    max_landmark: int
    metadata: dict[str, object] = field(default_factory=dict)
    model_card: str = ""
    _wide: _WideBoosters = field(
        default_factory=_WideBoosters, init=False, repr=False, compare=False
    )

    @cached_property
    def reference_profile(self) -> ReferenceProfile:
        """The training population's score profile (metadata ``reference``), prepared once
        for every batch the model explains."""
        return ReferenceProfile(self.metadata.get("reference") if self.metadata else None)

    @property
    def needs_scoring_matrix(self) -> bool:
        """Whether explaining needs XGBoost's matrix: some booster has no TreeSHAP tables."""
        return any(self.outcome_model(outcome).shap_tables is None for outcome in OUTCOMES)

    def use_threads(self, threads: int, *, from_rows: int = 1) -> None:
        """Let each booster's predictions (TreeSHAP included where XGBoost computes it: a
        booster without tables) use ``threads`` threads for batches of at least
        ``from_rows`` histories; smaller ones stay on one thread.

        A loaded bundle uses one: batch scoring runs a process per core. A team of threads
        costs a wake-up per prediction (about 0.2 ms a request with OpenMP's passive wait,
        more than one row's trees), while a batch of 16 is explained about a quarter faster
        on two (docs/speed.md): the service scores batches from a few rows up on its share
        of the cores, and single requests on one thread. Boosters are never reconfigured
        while serving: batches from ``from_rows`` use copies set up here. Call it before
        the model scores: not while another thread is predicting with it.
        """
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        if from_rows < 1:
            raise ValueError(f"from_rows must be at least 1, not {from_rows}")
        several = threads > 1 and from_rows > 1
        for outcome in OUTCOMES:
            booster = self.outcome_model(outcome).booster
            booster.set_param({"nthread": 1 if several else threads})
            if several:
                wide = booster.copy()
                wide.set_param({"nthread": threads})
                self._wide.boosters[outcome] = wide
        if not several:
            self._wide.boosters.clear()
        self._wide.from_rows = from_rows

    def booster_for(self, outcome: str, rows: int) -> xgb.Booster:
        """The booster of ``outcome`` that predicts a batch of ``rows`` histories (on the
        threads :meth:`use_threads` gave batches of that size)."""
        if rows >= self._wide.from_rows and outcome in self._wide.boosters:
            return self._wide.boosters[outcome]
        return self.outcome_model(outcome).booster

    def outcome_model(self, outcome: str) -> OutcomeModel:
        """The model of ``outcome`` (``dropout`` or ``poor_outcome``)."""
        return {"dropout": self.dropout, "poor_outcome": self.poor_outcome}[outcome]

    def assess(self, history: HistoryBatch, *, factors: int = DEFAULT_FACTORS) -> list[Assessment]:
        """Scores, explanations and signals for every history (no pandas on this path)."""
        features = compute_features(history)
        start = start_in_clinical_range(history)
        starts = [None if np.isnan(s) else bool(s) for s in start]
        per_outcome = {}
        # Shared by both outcomes; XGBoost's matrix only for a booster without tables.
        matrix = scoring_matrix(features) if self.needs_scoring_matrix else None
        gaps = gap_mask(features)
        clients = ClientHistory.each(history) if factors else []  # read once, for both
        for outcome in OUTCOMES:
            model = self.outcome_model(outcome)
            booster = self.booster_for(outcome, len(history))
            explanation = explain(
                booster, model.calibrator, features, matrix=matrix, gaps=gaps,
                tables=model.shap_tables,
            )  # fmt: skip
            levels = model.thresholds.level(explanation.probability)
            lows, highs = model.interval.bounds(explanation.probability)
            phrases = [outcome_phrase(outcome, s) for s in starts]
            listed = (
                top_factors(
                    explanation, features, clients, outcome=outcome, limit=factors,
                    reference=self.reference_profile, outcome_phrases=phrases,
                )
                if factors
                else [[] for _ in range(len(history))]
            )  # fmt: skip
            per_outcome[outcome] = [
                OutcomeAssessment(
                    probability=float(p),
                    probability_low=float(low),
                    probability_high=float(high),
                    risk_level=str(level),
                    factors=row_factors,
                    outcome=outcome_name(outcome, s),
                    base_probability=float(base),
                    data_gap_effect=float(gap),
                    concept_effects=dict(zip(CONCEPTS, map(float, effects), strict=True)),
                )
                for p, low, high, level, row_factors, s, base, gap, effects in zip(
                    explanation.probability, lows, highs, levels, listed, starts,
                    explanation.base_probability, explanation.gap_effect,
                    explanation.concept_effects, strict=True,
                )
            ]  # fmt: skip
        signals = clinical_signals(features, history)
        gaps = data_gaps(features)
        thin = too_little_to_go_on(features)
        return [
            Assessment(
                as_of_session=int(k),
                dropout=dropout,
                poor_outcome=poor,
                signals=row_signals,
                data_gaps=row_gaps,
                warnings=[TOO_LITTLE_WARNING] if row_thin else [],
            )
            for k, dropout, poor, row_signals, row_gaps, row_thin in zip(
                history.as_of_session,
                per_outcome["dropout"],
                per_outcome["poor_outcome"],
                signals,
                gaps,
                thin,
                strict=True,
            )  # fmt: skip
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
                "thresholds": model.thresholds.to_dict(),
                "base_rate": model.base_rate,
                "interval": model.interval.to_dict(),
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
            IncompatibleModelError: the bundle is of another format, feature specification or
                label revision (a model trained on poor-outcome labels revision 1),
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
            revision = spec.get("metadata", {}).get("label_revision", 1)
            if revision != LABEL_REVISION:
                raise IncompatibleModelError(
                    f"the model was trained on poor-outcome labels revision {revision} "
                    f"(no reliable improvement), which told clients with minimal symptoms "
                    f"they were at high risk; this code serves labels revision "
                    f"{LABEL_REVISION} only: retrain it with `dropout-risk train`"
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
                    thresholds=RiskThresholds.from_dict(entry["thresholds"]),
                    base_rate=float(entry["base_rate"]),
                    interval=VennAbersInterval.from_dict(entry["interval"]),
                )
                models[outcome].shap_tables  # noqa: B018 - built now, not by the first request
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
