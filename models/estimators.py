"""The estimators: a monotone XGBoost per outcome, and the baselines it is judged against.

* :func:`fit_booster`: XGBoost with the clinical monotone constraints of
  :mod:`features.engineering`, early stopping on a client-disjoint validation split; the
  returned booster holds only the trees up to the best iteration, so every later use
  (calibration, TreeSHAP, serving) sees one plain model.
* :func:`fit_logistic_baseline`: regularised logistic regression (mean imputation with
  missing-value indicators, standardised inputs), its penalty chosen on the same validation
  split. Published prediction studies rarely see boosting beat it by much (domain.md 5).
* The rule-based flags of existing systems (SRS below 36; not on track against the expected
  recovery curve) are the clinical signals of :mod:`features.signals`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xgboost as xgb
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from features.engineering import FEATURE_NAMES, monotone_constraints


@dataclass(frozen=True)
class BoosterSettings:
    """XGBoost hyper-parameters; defaults suit a few thousand to a million episodes.

    Trees of depth 4: with landmarks 1 to 12 the same measure means different things early
    and late in a course, and clinic, attendance and alliance effects combine; depth 2
    cannot express that, and an independent simulator's cohort rewarded depth 4. The
    ablation and tuning behind these values are in docs/model-quality.md.
    """

    max_depth: int = 4
    learning_rate: float = 0.1
    max_rounds: int = 1000
    early_stopping_rounds: int = 30
    min_child_weight: float = 10.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 2.0
    max_bin: int = 256
    threads: int = 2
    seed: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    def params(self, outcome: str) -> dict[str, object]:
        """Native XGBoost parameters for the model of ``outcome``."""
        return {
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "tree_method": "hist",
            "max_depth": self.max_depth,
            "eta": self.learning_rate,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "lambda": self.reg_lambda,
            "max_bin": self.max_bin,
            "nthread": self.threads,
            "seed": self.seed,
            "monotone_constraints": "(" + ",".join(map(str, monotone_constraints(outcome))) + ")",
            **self.extra,
        }


def feature_matrix(features: np.ndarray) -> xgb.DMatrix:
    """A DMatrix with the feature names the boosters were trained with (NaN = missing)."""
    return xgb.DMatrix(features, feature_names=list(FEATURE_NAMES), missing=np.nan)


def fit_booster(
    *,
    outcome: str,
    train_features: np.ndarray,
    train_labels: np.ndarray,
    valid_features: np.ndarray,
    valid_labels: np.ndarray,
    settings: BoosterSettings | None = None,
) -> xgb.Booster:
    """Train the monotone booster of ``outcome`` with early stopping on the validation split."""
    settings = settings or BoosterSettings()
    train = feature_matrix(train_features)
    train.set_label(train_labels)
    valid = feature_matrix(valid_features)
    valid.set_label(valid_labels)
    booster = xgb.train(
        settings.params(outcome),
        train,
        num_boost_round=settings.max_rounds,
        evals=[(valid, "validation")],
        early_stopping_rounds=settings.early_stopping_rounds,
        verbose_eval=False,
    )
    best = booster.best_iteration
    trimmed = booster[: best + 1]
    trimmed.set_attr(best_iteration=str(best), outcome=outcome)
    return trimmed


def refit_booster(
    *,
    outcome: str,
    features: np.ndarray,
    labels: np.ndarray,
    rounds: int,
    settings: BoosterSettings | None = None,
) -> xgb.Booster:
    """Train the booster of ``outcome`` for a fixed number of rounds (found by early stopping).

    Used to refit on the training and validation clients together once early stopping has
    chosen the number of trees, so no client is wasted on choosing it.
    """
    settings = settings or BoosterSettings()
    data = feature_matrix(features)
    data.set_label(labels)
    booster = xgb.train(settings.params(outcome), data, num_boost_round=rounds)
    booster.set_attr(rounds=str(rounds), outcome=outcome)
    return booster


def booster_margin(booster: xgb.Booster, features: np.ndarray) -> np.ndarray:
    """Raw log-odds of ``booster`` for each row of ``features``."""
    return booster.inplace_predict(features, predict_type="margin", missing=np.nan)


def fit_logistic_baseline(
    *,
    train_features: np.ndarray,
    train_labels: np.ndarray,
    valid_features: np.ndarray,
    valid_labels: np.ndarray,
    penalties: tuple[float, ...] = (0.01, 0.1, 1.0),
) -> Pipeline:
    """Regularised logistic regression; the penalty with the best validation log-loss wins."""
    best: tuple[float, Pipeline] | None = None
    for penalty in penalties:
        model = make_pipeline(
            SimpleImputer(strategy="mean", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
            # Newton-Cholesky: many rows and about a hundred features is the case it is made
            # for; lbfgs took a third of a training run's time for the same fit.
            LogisticRegression(C=penalty, solver="newton-cholesky", max_iter=100),
        )
        model.fit(train_features, train_labels)
        loss = log_loss(valid_labels, model.predict_proba(valid_features)[:, 1])
        if best is None or loss < best[0]:
            best = (loss, model)
    assert best is not None
    return best[1]
