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

import tempfile
import weakref
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


#: Rows handed to XGBoost at a time when it builds a training matrix or predicts.
BLOCK_ROWS = 100_000


class _RowBlocks(xgb.DataIter):
    """``features[rows]`` and their labels, :data:`BLOCK_ROWS` rows at a time."""

    def __init__(
        self, features: np.ndarray, labels: np.ndarray, rows: np.ndarray, *, cache: str
    ) -> None:
        self._features, self._labels, self._rows = features, labels, rows
        self._next = 0
        super().__init__(cache_prefix=cache)

    def next(self, input_data) -> bool:
        if self._next >= len(self._rows):
            return False
        block = slice(self._next, self._next + BLOCK_ROWS)
        input_data(
            data=self._features[self._rows[block]],
            label=self._labels[block],
            feature_names=list(FEATURE_NAMES),
        )
        self._next += BLOCK_ROWS
        return True

    def reset(self) -> None:
        self._next = 0


def _selected_rows(
    features: np.ndarray, labels: np.ndarray, rows: np.ndarray | None
) -> np.ndarray:
    """``rows`` (all rows of ``features`` if None), checked against ``labels``' length."""
    rows = np.arange(len(features)) if rows is None else np.asarray(rows)
    if len(rows) != len(labels):
        raise ValueError("labels must have one entry per selected row")
    return rows


def training_matrix(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    rows: np.ndarray | None = None,
    max_bin: int = 256,
) -> xgb.ExtMemQuantileDMatrix:
    """The histogram-binned training matrix of ``features[rows]`` (all rows by default), in
    XGBoost's external memory.

    Built block by block, so the selected rows are never copied out of ``features`` as a
    whole, and kept as pages of histogram bins in a scratch directory (under ``TMPDIR``)
    that XGBoost reads back every round, so it takes disk instead of memory: about 11 bytes
    per value, as the index of a matrix with missing values is sparse. The booster is the
    one an in-memory matrix of the same blocks gives. ``labels`` belong to the selected
    rows. The early-stopping split is not binned (:func:`evaluation_matrix`). The
    scratch directory goes with the matrix.
    """
    rows = _selected_rows(features, labels, rows)
    scratch = tempfile.TemporaryDirectory(prefix="dropout-risk-xgboost-")
    blocks = _RowBlocks(
        features, np.asarray(labels, dtype=np.float32), rows, cache=f"{scratch.name}/pages"
    )
    matrix = xgb.ExtMemQuantileDMatrix(blocks, max_bin=max_bin, missing=np.nan)
    weakref.finalize(matrix, scratch.cleanup)
    return matrix


def evaluation_matrix(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    rows: np.ndarray | None = None,
    threads: int | None = None,
) -> xgb.DMatrix:
    """The early-stopping matrix of ``features[rows]`` (all rows by default): plain values,
    in memory.

    Not binned like :func:`training_matrix`: XGBoost scores its validation log-loss every
    round, and from a binned matrix (external or in memory) a round took twice as long as
    from a plain one (0.60-0.70 s against 0.33 s at a million clients: 4.0M fit and about
    0.67M validation landmarks, 2 cores) for the same log-loss, so the same stopping round
    and trees. A validation split is an eighth of the training clients, so its copy is small
    beside the feature matrix. ``labels`` belong to the selected rows.
    """
    rows = _selected_rows(features, labels, rows)
    return xgb.DMatrix(
        features[rows],
        label=np.asarray(labels, dtype=np.float32),
        missing=np.nan,
        feature_names=list(FEATURE_NAMES),
        nthread=threads,
    )


def fit_booster(
    *,
    outcome: str,
    train_features: np.ndarray,
    train_labels: np.ndarray,
    valid_features: np.ndarray,
    valid_labels: np.ndarray,
    settings: BoosterSettings | None = None,
    train_rows: np.ndarray | None = None,
    valid_rows: np.ndarray | None = None,
) -> xgb.Booster:
    """Train the monotone booster of ``outcome`` with early stopping on the validation split.

    ``train_rows`` and ``valid_rows`` select rows of the feature matrices (all by default);
    the labels are those of the selected rows.
    """
    settings = settings or BoosterSettings()
    train = training_matrix(
        train_features, train_labels, rows=train_rows, max_bin=settings.max_bin
    )
    valid = evaluation_matrix(
        valid_features, valid_labels, rows=valid_rows, threads=settings.threads
    )
    booster = xgb.train(
        settings.params(outcome),
        train,
        num_boost_round=settings.max_rounds,
        evals=[(valid, "validation")],
        early_stopping_rounds=settings.early_stopping_rounds,
        verbose_eval=False,
    )
    return up_to_best_iteration(booster, outcome=outcome)


def up_to_best_iteration(booster: xgb.Booster, *, outcome: str) -> xgb.Booster:
    """The trees of an early-stopped ``booster`` up to its best iteration, which it records
    (attribute ``best_iteration``) with its ``outcome``."""
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
    rows: np.ndarray | None = None,
) -> xgb.Booster:
    """Train the booster of ``outcome`` for a fixed number of rounds (found by early stopping).

    Used to refit on the training and validation clients together once early stopping has
    chosen the number of trees, so no client is wasted on choosing it. ``rows`` selects rows
    of ``features`` (all by default); ``labels`` are those of the selected rows.
    """
    settings = settings or BoosterSettings()
    data = training_matrix(features, labels, rows=rows, max_bin=settings.max_bin)
    booster = xgb.train(settings.params(outcome), data, num_boost_round=rounds)
    booster.set_attr(rounds=str(rounds), outcome=outcome)
    return booster


def booster_margin(
    booster: xgb.Booster, features: np.ndarray, *, rows: np.ndarray | None = None
) -> np.ndarray:
    """Raw log-odds of ``booster`` for each row of ``features`` (of ``features[rows]``).

    With ``rows`` the selected rows are predicted :data:`BLOCK_ROWS` at a time, never
    copied out as a whole.
    """
    if rows is None:
        return booster.inplace_predict(features, predict_type="margin", missing=np.nan)
    blocks = [
        booster.inplace_predict(
            features[rows[start : start + BLOCK_ROWS]], predict_type="margin", missing=np.nan
        )
        for start in range(0, len(rows), BLOCK_ROWS)
    ]
    return np.concatenate(blocks) if blocks else np.empty(0, dtype=np.float32)


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


def baseline_probability(model: Pipeline, features: np.ndarray) -> np.ndarray:
    """The baseline's probability of the outcome for each row, :data:`BLOCK_ROWS` at a time.

    Its imputer and scaler copy their input in double precision with a missing-value
    indicator beside each feature: a few KB a row, so a million rows at once took GBs.
    """
    blocks = [
        model.predict_proba(features[start : start + BLOCK_ROWS])[:, 1]
        for start in range(0, len(features), BLOCK_ROWS)
    ]
    return np.concatenate(blocks) if blocks else np.empty(0)
