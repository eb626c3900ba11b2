"""Exact TreeSHAP from per-leaf tables: XGBoost's contributions, several times faster.

XGBoost's TreeSHAP (``pred_contribs``; Lundberg et al. 2020, algorithm 2) walks every path of
every tree for every row, extending and unwinding its path weights: about 1.5 µs a tree and
row for this project's depth-4 trees (2 cores, 2026-12-07), the largest part of explaining a
batch (docs/speed.md) and growing with the model: 1,600 trees at a million clients.

Path-dependent TreeSHAP depends on a row only through which splits of each leaf's path it
follows. Per leaf, the row follows all splits on a path feature or not (``o_k`` = 1 or 0), and
the training cover gives each path feature a fixed zero fraction ``z_k``; the leaf's share of
feature ``i`` is a function of the ``d`` bits ``o`` alone (the formula in
:func:`models._shap_kernel.leaf_table`). So every leaf's share for each of its ``2**d``
patterns is computed once, when the tables are built (the idea of Fast TreeSHAP v2: Yang,
arXiv:2109.09847), and a row costs a comparison per split and a table row per leaf: about
0.1-0.25 µs a tree and row on the same machine, 5-17 times less than XGBoost, one row at a
time; in blocks of rows, from :data:`BLOCKS_FROM` rows, 0.02-0.07 µs
(``bench/bench_tree_shap.py``).

The values are XGBoost's own to float32 rounding: ``tests/models/test_shap_tables.py`` checks
them against ``Booster.predict(..., pred_contribs=True)`` on random boosters (hypothesis),
and :meth:`ShapTables.of` checks them again on probe rows for each booster it builds
tables for. The bias (last column) is XGBoost's. Boosters the tables do not fit (categorical
splits, several trees per round or per class, vector leaves, paths with more than
:data:`MAX_PATH_FEATURES` features, tables over :data:`MAX_TABLE_VALUES` values) get no
tables, and XGBoost explains them (:mod:`models.tree_shap`).
"""

from __future__ import annotations

import functools
import json
import logging
import math
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import xgboost as xgb

from models.tree_shap import ScoringMatrix, tree_contributions

logger = logging.getLogger(__name__)

#: A leaf's table has ``2**d`` rows of ``d`` values for ``d`` path features: 4 for the
#: project's depth-4 trees, 256 rows of 8 at this limit.
MAX_PATH_FEATURES = 8
#: 32 MB of float64: the demo model needs about 0.2 MB, the 1,600 trees of a million clients
#: about 13 MB.
MAX_TABLE_VALUES = 4_000_000
#: Probe rows a booster's tables are checked on against XGBoost when they are built.
PROBE_ROWS = 64
#: Rows from which :meth:`ShapTables.contributions` takes them through the trees in blocks:
#: one row at a time is faster for one or two (a lone request), blocks from three on
#: (``bench/bench_tree_shap.py``).
BLOCKS_FROM = 3
#: How far from XGBoost's float32 values a probe's contribution may be (log-odds).
_PROBE_TOLERANCE = 1e-4


class UnsupportedBoosterError(ValueError):
    """The booster's trees do not fit per-leaf tables; XGBoost explains it instead."""


@functools.cache
def kernel() -> ModuleType:
    """The compiled loops, imported (and numba with them) on first use."""
    from models import _shap_kernel

    return _shap_kernel


@dataclass(frozen=True, eq=False)
class ShapTables:
    """One booster's trees as flat arrays, with every leaf's TreeSHAP table.

    Nodes are numbered through all trees (``node_start[t]`` is tree ``t``'s first), in
    XGBoost's order within a tree (every parent before its children); ``left``/``right``
    are positions within the tree, -1 at a leaf. ``slot``: at a split, the position of its
    feature among the path features of the leaves below it; at a leaf, ``width`` path
    features ``leaf_features[features_start:]`` and their table at ``table_start``.
    """

    features: int
    bias: float
    node_start: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    default_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    slot: np.ndarray
    width: np.ndarray
    table_start: np.ndarray
    features_start: np.ndarray
    leaf_features: np.ndarray
    tables: np.ndarray

    @classmethod
    def of(cls, booster: xgb.Booster) -> ShapTables | None:
        """The tables of ``booster``, checked against XGBoost on probe rows; None (logged)
        when its trees do not fit tables, they cannot be built or compiled, or the check
        fails, so XGBoost explains it.

        The probe rows catch what would be wrong in many trees (a changed model format, a
        compiled kernel that misbehaves), not every single split: the tests compare the
        tables with XGBoost split by split.
        """
        try:
            tables = cls.build(booster)
            probe = tables.probe_rows(np.random.default_rng(0))
            expected = tree_contributions(booster, ScoringMatrix(probe, threads=1))
            # Both loops (a lone request takes one, a batch the other) on the same rows.
            farthest = float(
                max(
                    np.max(
                        np.abs(tables.contributions(probe, blocks=blocks) - expected), initial=0
                    )
                    for blocks in (False, True)
                )
            )
        except UnsupportedBoosterError as error:
            logger.info("TreeSHAP by XGBoost for this booster: %s", error)
            return None
        except Exception:  # the tables only save time: XGBoost is always there
            logger.exception("TreeSHAP tables could not be built: XGBoost explains this booster")
            return None
        if not farthest <= _PROBE_TOLERANCE:
            logger.error(
                "TreeSHAP tables differ from XGBoost by %.3g on probe rows: XGBoost explains "
                "this booster",
                farthest,
            )
            return None
        return tables

    @classmethod
    def build(cls, booster: xgb.Booster) -> ShapTables:
        """The tables of ``booster`` (not checked against XGBoost: :meth:`of` checks)."""
        model = json.loads(booster.save_raw(raw_format="json"))
        trees = _gradient_boosted_trees(model)
        columns = _Columns()
        for tree in trees:
            columns.add_tree(tree)
        if columns.table_values > MAX_TABLE_VALUES:
            raise UnsupportedBoosterError(
                f"its tables would hold {columns.table_values:,} values "
                f"(limit {MAX_TABLE_VALUES:,})"
            )
        bias_row = np.full((1, booster.num_features()), np.nan, dtype=np.float32)
        bias = float(tree_contributions(booster, ScoringMatrix(bias_row, threads=1))[0, -1])
        return cls(features=booster.num_features(), bias=bias, **columns.arrays(kernel()))

    def contributions(self, features: np.ndarray, *, blocks: bool | None = None) -> np.ndarray:
        """TreeSHAP values of every row of ``features`` (log-odds, float64), the bias last,
        as ``booster.predict(DMatrix(features), pred_contribs=True)`` gives them.

        ``blocks``: whether the rows go through the trees in blocks
        (:func:`models._shap_kernel.add_block_contributions`) or one at a time; by default
        in blocks from :data:`BLOCKS_FROM` rows. Either way the values are the same.
        """
        if features.ndim != 2:
            raise ValueError(f"features must be a 2-D array, not {features.ndim}-D")
        if features.shape[1] != self.features:
            raise ValueError(
                f"the booster expects {self.features} features, the rows have {features.shape[1]}"
            )
        # XGBoost keeps features as float32 and compares them with float32 thresholds.
        with np.errstate(over="ignore"):  # beyond float32 becomes inf, refused just below
            rows = np.ascontiguousarray(features, dtype=np.float32)
        if np.isinf(rows).any():  # refused as XGBoost refuses them
            raise ValueError("features contain an infinite value (or one beyond float32)")
        out = np.zeros((rows.shape[0], self.features + 1))
        if blocks is None:
            blocks = len(rows) >= BLOCKS_FROM
        add = kernel().add_block_contributions if blocks else kernel().add_contributions
        add(rows, self._trees, out)
        out[:, -1] = self.bias
        return out

    @functools.cached_property
    def _trees(self) -> tuple[np.ndarray, ...]:
        """The arrays the compiled loops read (:data:`models._shap_kernel.TREE_ARRAYS`)."""
        return tuple(getattr(self, name) for name in kernel().TREE_ARRAYS)

    def probe_rows(self, rng: np.random.Generator) -> np.ndarray:
        """Rows that reach many leaves: each value missing, a split threshold of its feature,
        or just below one (the edges of XGBoost's ``x < threshold``)."""
        probe = np.full((PROBE_ROWS, self.features), np.nan, dtype=np.float32)
        is_split = self.left >= 0
        for column in range(self.features):
            cuts = self.threshold[is_split & (self.feature == column)]
            if len(cuts) == 0:
                continue
            values = np.concatenate([cuts, np.nextafter(cuts, np.float32(-np.inf)), [np.nan]])
            probe[:, column] = rng.choice(values.astype(np.float32), size=PROBE_ROWS)
        return probe


def _gradient_boosted_trees(model: dict) -> list[dict]:
    learner = model["learner"]
    booster = learner["gradient_booster"]
    if booster.get("name") != "gbtree":
        raise UnsupportedBoosterError(f"{booster.get('name')!r} booster, not gbtree")
    parameters = booster["model"]["gbtree_model_param"]
    if int(parameters.get("num_parallel_tree", 1)) != 1:
        raise UnsupportedBoosterError("several trees per round")
    if any(int(group) != 0 for group in booster["model"]["tree_info"]):
        raise UnsupportedBoosterError("trees of several outputs")
    trees = booster["model"]["trees"]
    if any(int(tree["tree_param"].get("size_leaf_vector", 1)) > 1 for tree in trees):
        raise UnsupportedBoosterError("trees of several outputs (vector leaves)")
    return trees


class _Columns:
    """The flat arrays of :class:`ShapTables`, tree by tree."""

    def __init__(self) -> None:
        self.node_start = [0]
        self.per_node: dict[str, list] = {
            name: []
            for name in ("feature", "threshold", "default_left", "left", "right", "slot",
                         "width", "table_start", "features_start")
        }  # fmt: skip
        self.leaf_features: list[int] = []
        self.leaves: list[tuple[int, float, list[float]]] = []  # node, value, zero fractions
        self.table_values = 0

    def add_tree(self, tree: dict) -> None:
        if any(int(kind) != 0 for kind in tree.get("split_type", [])):
            raise UnsupportedBoosterError("categorical splits")
        left, right = list(tree["left_children"]), list(tree["right_children"])
        feature, condition = tree["split_indices"], tree["split_conditions"]
        cover = tree["sum_hessian"]
        first, nodes = self.node_start[-1], len(left)
        reached = [False] * nodes
        slot, width = [0] * nodes, [0] * nodes
        table_start, features_start = [0] * nodes, [0] * nodes
        # Depth first from the root, carrying the path's features and their zero fractions.
        stack: list[tuple[int, list[int], list[float]]] = [(0, [], [])]
        while stack:
            node, path_features, zero_fractions = stack.pop()
            reached[node] = True
            if left[node] == -1:
                d = len(path_features)
                if d > MAX_PATH_FEATURES:
                    raise UnsupportedBoosterError(
                        f"a path with {d} features (limit {MAX_PATH_FEATURES})"
                    )
                width[node] = d
                table_start[node] = self.table_values
                features_start[node] = len(self.leaf_features)
                self.leaf_features.extend(path_features)
                self.leaves.append((first + node, float(condition[node]), zero_fractions))
                self.table_values += d << d
                continue
            if min(left[node], right[node]) <= node:
                raise UnsupportedBoosterError("a child numbered before its parent")
            split_on = feature[node]
            if split_on in path_features:  # split on again: still one path feature
                slot[node] = path_features.index(split_on)
                below, fractions = path_features, zero_fractions
            else:
                slot[node] = len(path_features)
                below, fractions = [*path_features, split_on], [*zero_fractions, 1.0]
            for child in (left[node], right[node]):
                share = cover[child] / cover[node] if cover[node] > 0 else 0.0
                child_fractions = list(fractions)
                child_fractions[slot[node]] *= share
                stack.append((child, below, child_fractions))
        for node in range(nodes):
            if not reached[node]:  # pruned: never evaluated, adds nothing
                left[node] = right[node] = -1
        self.node_start.append(first + nodes)
        columns = self.per_node
        columns["feature"] += feature
        columns["threshold"] += condition
        columns["default_left"] += [bool(flag) for flag in tree["default_left"]]
        columns["left"] += left
        columns["right"] += right
        columns["slot"] += slot
        columns["width"] += width
        columns["table_start"] += table_start
        columns["features_start"] += features_start

    def arrays(self, compiled: ModuleType) -> dict[str, np.ndarray]:
        columns = self.per_node
        tables = np.zeros(self.table_values)
        widths = np.asarray(columns["width"])
        starts = np.asarray(columns["table_start"])
        for node, value, zero_fractions in self.leaves:
            d = int(widths[node])
            if d:
                table = compiled.leaf_table(value, np.array(zero_fractions), _shapley_weights(d))
                tables[starts[node] : starts[node] + (d << d)] = table.ravel()
        return {
            "node_start": np.asarray(self.node_start, dtype=np.int64),
            "feature": np.asarray(columns["feature"], dtype=np.int64),
            "threshold": np.asarray(columns["threshold"], dtype=np.float32),
            "default_left": np.asarray(columns["default_left"], dtype=np.bool_),
            "left": np.asarray(columns["left"], dtype=np.int64),
            "right": np.asarray(columns["right"], dtype=np.int64),
            "slot": np.asarray(columns["slot"], dtype=np.int64),
            "width": widths.astype(np.int64),
            "table_start": starts.astype(np.int64),
            "features_start": np.asarray(columns["features_start"], dtype=np.int64),
            "leaf_features": np.asarray(self.leaf_features, dtype=np.int64),
            "tables": tables,
        }


@functools.cache
def _shapley_weights(d: int) -> np.ndarray:
    """``s! (d - s - 1)! / d!`` for coalitions of ``s`` = 0 .. d-1 of a leaf's other features."""
    return np.array(
        [math.factorial(s) * math.factorial(d - s - 1) / math.factorial(d) for s in range(d)]
    )
