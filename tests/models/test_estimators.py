"""Boosters trained and predicted on selected rows of a matrix, without copying them out."""

from __future__ import annotations

import gc
import tempfile

import numpy as np
import pytest
import xgboost as xgb

from features.engineering import FEATURE_NAMES
from models import estimators
from models.estimators import (
    BoosterSettings,
    baseline_probability,
    booster_margin,
    fit_booster,
    fit_logistic_baseline,
    refit_booster,
    training_matrix,
)


@pytest.fixture(scope="module")
def rows_of_a_matrix():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(3000, len(FEATURE_NAMES))).astype(np.float32)
    features[rng.random(features.shape) < 0.1] = np.nan
    labels = (rng.random(3000) < 1 / (1 + np.exp(-np.nan_to_num(features[:, 0])))).astype(float)
    chosen = np.sort(rng.choice(3000, size=1700, replace=False))
    return features, labels, chosen


def test_a_training_matrix_of_selected_rows_holds_those_rows(rows_of_a_matrix, monkeypatch):
    features, labels, chosen = rows_of_a_matrix
    monkeypatch.setattr(estimators, "BLOCK_ROWS", 500)  # several blocks
    built = training_matrix(features, labels[chosen], rows=chosen)
    copied = xgb.QuantileDMatrix(features[chosen], label=labels[chosen], max_bin=256)
    assert (built.num_row(), built.num_col()) == (len(chosen), len(FEATURE_NAMES))
    np.testing.assert_array_equal(built.get_label(), labels[chosen])
    assert built.feature_names == list(FEATURE_NAMES)
    settings = BoosterSettings(threads=1)
    trained = [
        xgb.train(settings.params("dropout"), matrix, num_boost_round=20)
        for matrix in (built, copied)
    ]
    np.testing.assert_allclose(
        *(b.inplace_predict(features[chosen]) for b in trained), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match="one entry per selected row"):
        training_matrix(features, labels, rows=chosen)


def test_boosters_fit_and_predict_on_selected_rows(rows_of_a_matrix, monkeypatch):
    features, labels, chosen = rows_of_a_matrix
    monkeypatch.setattr(estimators, "BLOCK_ROWS", 400)
    settings = BoosterSettings(max_rounds=60, early_stopping_rounds=10, threads=1)
    fit, valid = chosen[:1200], chosen[1200:]
    stopped = fit_booster(
        outcome="dropout",
        train_features=features,
        train_labels=labels[fit],
        valid_features=features,
        valid_labels=labels[valid],
        settings=settings,
        train_rows=fit,
        valid_rows=valid,
    )
    assert stopped.num_boosted_rounds() == int(stopped.attr("best_iteration")) + 1
    refitted = refit_booster(
        outcome="dropout", features=features, labels=labels[chosen], rounds=15,
        settings=settings, rows=chosen,
    )  # fmt: skip
    assert refitted.num_boosted_rounds() == 15
    in_blocks = booster_margin(refitted, features, rows=chosen)
    whole = refitted.inplace_predict(features[chosen], predict_type="margin", missing=np.nan)
    np.testing.assert_allclose(in_blocks, whole, rtol=1e-5, atol=1e-5)
    assert booster_margin(refitted, features, rows=chosen[:0]).shape == (0,)


def test_a_training_matrix_keeps_its_pages_on_disk_until_it_goes(
    rows_of_a_matrix, tmp_path, monkeypatch
):
    features, labels, chosen = rows_of_a_matrix
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    matrix = training_matrix(features, labels[chosen], rows=chosen)
    (scratch,) = tmp_path.iterdir()
    assert any(scratch.iterdir())
    del matrix
    gc.collect()
    assert not scratch.exists()


def test_the_baseline_predicts_in_blocks_what_it_predicts_at_once(rows_of_a_matrix, monkeypatch):
    features, labels, chosen = rows_of_a_matrix
    model = fit_logistic_baseline(
        train_features=features[chosen], train_labels=labels[chosen],
        valid_features=features[:300], valid_labels=labels[:300], penalties=(1.0,),
    )  # fmt: skip
    monkeypatch.setattr(estimators, "BLOCK_ROWS", 700)
    np.testing.assert_allclose(
        baseline_probability(model, features), model.predict_proba(features)[:, 1], rtol=1e-12
    )
    assert baseline_probability(model, features[:0]).shape == (0,)


def test_early_stopping_on_plain_validation_values_grows_the_binned_matrix_s_trees():
    """The validation split is read as plain values (faster each round): the log-loss, the
    stopping round and the trees are those a binned validation matrix gives."""
    rng = np.random.default_rng(3)
    features = rng.normal(size=(3000, len(FEATURE_NAMES))).astype(np.float32)
    logit = 2 * features[:, 0] - 1.5 * features[:, 1] + features[:, 2] * features[:, 3]
    features[rng.random(features.shape) < 0.1] = np.nan
    labels = (rng.random(3000) < 1 / (1 + np.exp(-logit))).astype(float)
    settings = BoosterSettings(max_rounds=300, early_stopping_rounds=10, threads=1)
    fit, valid = np.arange(0, 3000, 3), np.arange(1, 3000, 3)
    stopped = fit_booster(
        outcome="dropout", train_features=features, train_labels=labels[fit],
        valid_features=features, valid_labels=labels[valid], settings=settings,
        train_rows=fit, valid_rows=valid,
    )  # fmt: skip
    train = training_matrix(features, labels[fit], rows=fit)
    binned = xgb.QuantileDMatrix(  # the training matrix's bins, as it was read before
        features[valid], label=labels[valid], ref=train, feature_names=list(FEATURE_NAMES)
    )
    reference = xgb.train(
        settings.params("dropout"), train, num_boost_round=settings.max_rounds,
        evals=[(binned, "validation")], early_stopping_rounds=settings.early_stopping_rounds,
        verbose_eval=False,
    )  # fmt: skip
    assert 10 < reference.best_iteration < 200  # stopped early, after learning something
    assert int(stopped.attr("best_iteration")) == reference.best_iteration
    np.testing.assert_array_equal(
        stopped.inplace_predict(features, predict_type="margin"),
        reference[: reference.best_iteration + 1].inplace_predict(features, predict_type="margin"),
    )
    plain = estimators.evaluation_matrix(features, labels[valid], rows=valid)
    assert plain.num_row() == len(valid) and plain.feature_names == list(FEATURE_NAMES)
    np.testing.assert_array_equal(plain.get_label(), labels[valid])
    with pytest.raises(ValueError, match="one entry per selected row"):
        estimators.evaluation_matrix(features, labels, rows=valid)
