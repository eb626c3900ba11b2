"""TreeSHAP through XGBoost's C API: the same numbers as ``Booster.predict``."""

from __future__ import annotations

import gc

import numpy as np
import psutil
import pytest
import xgboost as xgb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from models.tree_shap import ScoringMatrix, tree_contributions

_FEATURES = 6


@pytest.fixture(scope="module")
def booster():
    """A small booster on features with missing values, so that default paths are used."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, _FEATURES))
    features[rng.random(features.shape) < 0.2] = np.nan
    label = (np.nan_to_num(features[:, 0]) + rng.normal(size=400) > 0).astype(float)
    return xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
        xgb.DMatrix(features, label=label, missing=np.nan),
        num_boost_round=12,
    )


def _library(booster: xgb.Booster, features: np.ndarray) -> np.ndarray:
    return booster.predict(xgb.DMatrix(features, missing=np.nan), pred_contribs=True)


_ROWS = arrays(
    np.float64,
    st.tuples(st.integers(1, 40), st.just(_FEATURES)),
    elements=st.one_of(st.just(np.nan), st.floats(-5, 5, allow_nan=False)),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(features=_ROWS, threads=st.sampled_from([1, -1]), single=st.booleans())
def test_contributions_are_the_libraries(booster, features, threads, single):
    if single:
        features = features.astype(np.float32)
    ours = tree_contributions(booster, ScoringMatrix(features, threads=threads))
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, _library(booster, features))


def test_rows_in_any_layout_and_dtype(booster):
    rng = np.random.default_rng(1)
    features = rng.normal(size=(_FEATURES, 30)).T  # not C-contiguous
    expected = _library(booster, np.ascontiguousarray(features))
    np.testing.assert_array_equal(
        tree_contributions(booster, ScoringMatrix(features, threads=1)), expected
    )
    integers = rng.integers(-3, 3, size=(10, _FEATURES))
    np.testing.assert_array_equal(
        tree_contributions(booster, ScoringMatrix(integers, threads=1)),
        _library(booster, integers.astype(float)),
    )


def test_a_result_is_a_copy_not_the_boosters_buffer(booster):
    rng = np.random.default_rng(2)
    first_rows, other_rows = rng.normal(size=(3, _FEATURES)), rng.normal(size=(3, _FEATURES))
    first = tree_contributions(booster, ScoringMatrix(first_rows, threads=1))
    kept = first.copy()
    tree_contributions(booster, ScoringMatrix(other_rows, threads=1))
    np.testing.assert_array_equal(first, kept)


def test_the_matrix_owns_a_copy_of_the_rows(booster):
    features = np.random.default_rng(3).normal(size=(5, _FEATURES))
    expected = _library(booster, features)
    matrix = ScoringMatrix(features, threads=1)
    features[:] = 0.0
    np.testing.assert_array_equal(tree_contributions(booster, matrix), expected)
    assert matrix.rows == 5


def test_no_rows_give_no_contributions(booster):
    values = tree_contributions(booster, ScoringMatrix(np.zeros((0, _FEATURES)), threads=1))
    assert values.shape == (0, _FEATURES + 1)


def test_a_one_dimensional_array_is_refused():
    with pytest.raises(ValueError, match="2-D"):
        ScoringMatrix(np.zeros(_FEATURES), threads=1)


def test_too_few_columns_is_xgboosts_error(booster):
    matrix = ScoringMatrix(np.zeros((2, _FEATURES - 2)), threads=1)
    with pytest.raises(xgb.core.XGBoostError):
        tree_contributions(booster, matrix)


def test_freed_matrices_do_not_accumulate():
    process = psutil.Process()
    rows = np.random.default_rng(4).normal(size=(2_000, _FEATURES))
    for _ in range(5):  # warm the allocator
        ScoringMatrix(rows, threads=1)
    gc.collect()
    before = process.memory_info().rss
    for _ in range(1_000):  # about 100 MB if none were freed
        ScoringMatrix(rows, threads=1)
    gc.collect()
    assert process.memory_info().rss - before < 20 * 2**20
