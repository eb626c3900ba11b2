"""TreeSHAP from per-leaf tables: XGBoost's own contributions, for any booster they fit."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import xgboost as xgb
from hypothesis import given, settings
from hypothesis import strategies as st

from features.landmarks import build_landmarks
from models._shap_kernel import BLOCK_ROWS
from models.bundle import RiskModel
from models.shap_tables import BLOCKS_FROM, ShapTables, UnsupportedBoosterError, kernel


def _booster(
    seed: int,
    *,
    features: int,
    depth: int,
    rounds: int,
    missing: float = 0.3,
    **params: object,
) -> tuple[xgb.Booster, np.ndarray]:
    """A booster trained on random rows with missing values, and rows to explain."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(300, features))
    signal = np.nan_to_num(rows[:, 0]) + np.nan_to_num(rows[:, -1]) * np.nan_to_num(rows[:, 0])
    label = (signal + rng.normal(size=300) > 0).astype(float)
    rows[rng.random(rows.shape) < missing] = np.nan
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": depth, "min_child_weight": 0.5,
         "nthread": 1, "seed": seed, **params},
        xgb.DMatrix(rows, label=label, missing=np.nan),
        num_boost_round=rounds,
    )  # fmt: skip
    return booster, rows


def _xgboost(booster: xgb.Booster, rows: np.ndarray) -> np.ndarray:
    return booster.predict(xgb.DMatrix(rows, missing=np.nan), pred_contribs=True)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    features=st.integers(1, 6),  # few features: paths that split on one feature twice
    depth=st.integers(1, 6),
    rounds=st.integers(1, 25),
    missing=st.sampled_from([0.0, 0.3, 0.8]),
)
def test_contributions_are_xgboosts(seed, features, depth, rounds, missing):
    booster, rows = _booster(seed, features=features, depth=depth, rounds=rounds, missing=missing)
    tables = ShapTables.build(booster)
    # The training rows, and rows on and just below every threshold (XGBoost's x < t), one
    # at a time and in blocks.
    for explained in (rows, tables.probe_rows(np.random.default_rng(seed))):
        for blocks in (False, True):
            ours = tables.contributions(explained, blocks=blocks)
            np.testing.assert_allclose(ours, _xgboost(booster, explained), rtol=1e-5, atol=2e-6)
            margin = booster.predict(xgb.DMatrix(explained, missing=np.nan), output_margin=True)
            np.testing.assert_allclose(ours.sum(axis=1), margin, rtol=1e-5, atol=2e-6)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    depth=st.integers(1, 6),
    rounds=st.integers(1, 12),
    size=st.integers(0, 3 * BLOCK_ROWS + 5),  # empty, one row, partial and whole blocks
)
def test_blocks_add_exactly_what_one_row_at_a_time_adds(seed, depth, rounds, size):
    booster, rows = _booster(seed, features=5, depth=depth, rounds=rounds)
    tables = ShapTables.build(booster)
    explained = np.random.default_rng(seed).permutation(np.vstack([rows, rows]))[:size]
    one_at_a_time = tables.contributions(explained, blocks=False)
    np.testing.assert_array_equal(tables.contributions(explained, blocks=True), one_at_a_time)
    # By default: one at a time for a lone request, in blocks from BLOCKS_FROM rows.
    np.testing.assert_array_equal(tables.contributions(explained), one_at_a_time)


@pytest.mark.parametrize("size", [1, BLOCKS_FROM - 1, BLOCKS_FROM, 2 * BLOCK_ROWS])
def test_the_loop_is_chosen_by_the_number_of_rows(size, monkeypatch):
    booster, rows = _booster(1, features=4, depth=3, rounds=5)
    tables = ShapTables.build(booster)
    compiled = kernel()
    taken = []
    loops = {
        name: getattr(compiled, name) for name in ("add_contributions", "add_block_contributions")
    }
    for loop, exact in loops.items():

        def counted(*args, loop=loop, exact=exact):
            taken.append(loop)
            exact(*args)

        monkeypatch.setattr(compiled, loop, counted)
    tables.contributions(np.resize(rows, (size, rows.shape[1])))
    assert taken == ["add_block_contributions" if size >= BLOCKS_FROM else "add_contributions"]


def test_monotone_boosters_of_the_projects_depth_with_many_trees():
    booster, rows = _booster(
        3, features=8, depth=4, rounds=150, monotone_constraints="(1,0,0,0,0,0,0,-1)",
        subsample=0.8, colsample_bytree=0.8,
    )  # fmt: skip
    ours = ShapTables.build(booster).contributions(rows)
    np.testing.assert_allclose(ours, _xgboost(booster, rows), rtol=1e-5, atol=2e-6)


def test_trees_that_never_split_go_to_the_bias():
    booster, rows = _booster(0, features=3, depth=3, rounds=4, min_child_weight=1e6)
    ours = ShapTables.build(booster).contributions(rows[:5])
    assert not ours[:, :-1].any()
    np.testing.assert_allclose(ours, _xgboost(booster, rows[:5]), atol=1e-6)


def test_rows_in_any_layout_and_type():
    booster, rows = _booster(1, features=4, depth=3, rounds=10, missing=0.0)
    tables = ShapTables.build(booster)
    expected = _xgboost(booster, rows)
    np.testing.assert_allclose(tables.contributions(np.asfortranarray(rows)), expected, atol=2e-6)
    whole = np.round(rows * 3)
    np.testing.assert_allclose(
        tables.contributions(whole.astype(np.int64)), _xgboost(booster, whole), atol=2e-6
    )
    assert tables.contributions(rows[:0]).shape == (0, 5)


def test_rows_of_another_shape_are_refused():
    booster, rows = _booster(1, features=4, depth=3, rounds=3)
    tables = ShapTables.build(booster)
    with pytest.raises(ValueError, match="2-D"):
        tables.contributions(rows[0])
    with pytest.raises(ValueError, match="expects 4 features, the rows have 3"):
        tables.contributions(rows[:, :3])


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"max_depth": 10}, "a path with"),
        ({"booster": "dart"}, "'dart' booster"),
        ({"num_parallel_tree": 2}, "several trees per round"),
        ({"objective": "multi:softprob", "num_class": 3}, "several outputs"),
    ],
)
def test_boosters_the_tables_do_not_fit_are_left_to_xgboost(params, reason, caplog):
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(3_000, 12))
    label = rng.integers(0, params.get("num_class", 2), size=3_000)
    booster = xgb.train(
        {"objective": "binary:logistic", "min_child_weight": 0, "nthread": 1, **params},
        xgb.DMatrix(rows, label=label),
        num_boost_round=3,
    )
    with pytest.raises(UnsupportedBoosterError, match=reason):
        ShapTables.build(booster)
    with caplog.at_level(logging.INFO, logger="models.shap_tables"):
        assert ShapTables.of(booster) is None
    assert reason in caplog.text


def test_trees_with_vector_leaves_are_left_to_xgboost():
    rng = np.random.default_rng(0)
    booster = xgb.train(
        {"tree_method": "hist", "multi_strategy": "multi_output_tree", "nthread": 1},
        xgb.DMatrix(rng.normal(size=(500, 4)), label=rng.normal(size=(500, 2))),
        num_boost_round=2,
    )
    with pytest.raises(UnsupportedBoosterError, match="vector leaves"):
        ShapTables.build(booster)


@pytest.mark.parametrize("value", [np.inf, -np.inf, 1e39])
def test_infinite_values_are_refused_as_xgboost_refuses_them(value):
    booster, rows = _booster(1, features=4, depth=3, rounds=3, missing=0.0)
    rows[0, 2] = value
    with pytest.raises(ValueError, match="infinite"):
        ShapTables.build(booster).contributions(rows)
    with pytest.raises(xgb.core.XGBoostError, match="inf"):
        _xgboost(booster, rows)


@pytest.mark.parametrize("loop", ["add_contributions", "add_block_contributions"])
def test_tables_that_disagree_with_xgboost_are_not_used(loop, monkeypatch, caplog):
    booster, _ = _booster(2, features=4, depth=3, rounds=5)
    assert ShapTables.of(booster) is not None
    # Either loop going wrong is caught: a lone request takes one, a batch the other.
    compiled = kernel()
    exact = getattr(compiled, loop)

    def off_by_a_little(*args):
        exact(*args)
        args[-1][:, 0] += 1e-3  # the output array

    monkeypatch.setattr(compiled, loop, off_by_a_little)
    with caplog.at_level(logging.ERROR, logger="models.shap_tables"):
        assert ShapTables.of(booster) is None
    assert "differ from XGBoost" in caplog.text


@pytest.mark.parametrize("step", ["build", "contributions"])
def test_a_failure_to_build_or_run_leaves_the_booster_to_xgboost(step, monkeypatch, caplog):
    booster, _ = _booster(2, features=4, depth=3, rounds=5)

    def broken(*_args, **_options):
        raise RuntimeError("no compiler today")

    # Building the tables, or their first use on the probe rows (numba compiles or loads
    # its cached code then): either failing leaves the booster to XGBoost.
    monkeypatch.setattr(ShapTables, step, broken)
    with caplog.at_level(logging.ERROR, logger="models.shap_tables"):
        assert ShapTables.of(booster) is None
    assert "no compiler today" in caplog.text


def test_a_loaded_model_explains_with_its_tables_as_xgboost_would(tmp_path, trained, cohort):
    clients, sessions = cohort
    history = build_landmarks(clients, sessions, max_landmark=12).history.take(np.arange(300))
    directory = trained.model.save(tmp_path / "bundle")
    with_tables, without = RiskModel.load(directory), RiskModel.load(directory)
    for outcome in ("dropout", "poor_outcome"):
        assert with_tables.outcome_model(outcome).__dict__["shap_tables"] is not None  # at load
        without.outcome_model(outcome).__dict__["shap_tables"] = None  # XGBoost explains
    assert not with_tables.needs_scoring_matrix and without.needs_scoring_matrix
    for ours, theirs in zip(with_tables.assess(history), without.assess(history), strict=True):
        for outcome in ("dropout", "poor_outcome"):
            mine, reference = getattr(ours, outcome), getattr(theirs, outcome)
            assert mine.probability == pytest.approx(reference.probability, abs=1e-7)
            assert mine.risk_level == reference.risk_level
            assert [f.text for f in mine.factors] == [f.text for f in reference.factors]
