"""The compiled loops of :mod:`models.shap_tables` (numba), imported only when tables are built.

Importing numba takes most of a second, which a command that never explains (``token``,
``synth``) should not pay; so this module is imported by :func:`models.shap_tables.kernel`
on first use, and its compiled code is cached on disk (``cache=True``): in ``__pycache__``
next to this file, else in numba's user cache directory (under ``HOME``), else in
``NUMBA_CACHE_DIR``. Where none of them is writable numba refuses to import this module:
the tables are then not built (logged at ERROR) and XGBoost explains every booster, several
times slower (docs/operations.md).

Two loops add the same contributions in the same order, so their results are identical:
:func:`add_contributions` takes one row at a time through every tree, the faster for one or
two rows (a lone request); :func:`add_block_contributions` takes :data:`BLOCK_ROWS` rows at a
time through each node, so that its innermost loops run over rows, which the compiler turns
into vector instructions: 3-8 times faster from a few dozen rows on (docs/speed.md).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def leaf_table(value: float, zero_fractions: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``(2**d, d)``: a leaf's TreeSHAP share of each of its ``d`` path features, for every
    pattern of path features the row follows (bit ``k`` set: it follows every split on
    feature ``k``).

    ``zero_fractions[k]``: the share of the training cover that goes the leaf's way at the
    splits on feature ``k`` (product over the path); ``weights[s]``: the Shapley weight
    ``s! (d - s - 1)! / d!`` of a coalition of ``s`` other features. With ``o`` the pattern's
    bits and ``z`` the zero fractions, feature ``i`` gets, summing over the coalitions ``S``
    of the other features the row follows (``S`` within ``{k != i: o_k = 1}``):

        value * (o_i - z_i) * sum_S weights[|S|] * prod_{k != i, k not in S} z_k

    The sum over coalitions is read off the polynomial prod_{k followed} (z_k + t), whose
    coefficient of t**s sums the products of the ``z`` left out of every coalition of size s.
    """
    d = zero_fractions.shape[0]
    table = np.zeros((1 << d, d))
    coefficients = np.zeros(d + 1)
    for pattern in range(1 << d):
        for i in range(d):
            coefficients[:] = 0.0
            coefficients[0] = 1.0
            followed = 0
            left_out = 1.0  # product of z over the features not followed (i aside)
            for k in range(d):
                if k == i:
                    continue
                if (pattern >> k) & 1:
                    # Multiply the polynomial by (z_k + t).
                    for s in range(followed + 1, 0, -1):
                        coefficients[s] = coefficients[s] * zero_fractions[k] + coefficients[s - 1]
                    coefficients[0] *= zero_fractions[k]
                    followed += 1
                else:
                    left_out *= zero_fractions[k]
            total = 0.0
            for s in range(followed + 1):
                total += weights[s] * coefficients[s]
            follows_i = (pattern >> i) & 1
            table[pattern, i] = value * (follows_i - zero_fractions[i]) * left_out * total
    return table


#: The tree arrays of :class:`models.shap_tables.ShapTables` the loops read, in order.
TREE_ARRAYS = (
    "node_start", "feature", "threshold", "default_left", "left", "right", "slot", "width",
    "table_start", "features_start", "leaf_features", "tables",
)  # fmt: skip


@numba.njit(cache=True, nogil=True)
def _most_nodes(node_start: np.ndarray) -> int:
    """Nodes of the largest tree."""
    most = 0
    for t in range(node_start.shape[0] - 1):
        most = max(most, node_start[t + 1] - node_start[t])
    return most


@numba.njit(cache=True, nogil=True)
def add_contributions(rows: np.ndarray, trees: tuple, out: np.ndarray) -> None:
    """Add every tree's TreeSHAP values of each row of ``rows`` (float32) to ``out``.

    Nodes are numbered per tree from ``node_start[t]``, each parent before its children. A
    split carries down to its children the path features the row has failed so far (a bit
    per path slot): the child the row does not take adds the split's slot. A leaf reads the
    table row of the pattern its path features leave, and adds it to its features.
    XGBoost's rule for a split: go left when ``x < threshold``, or when ``x`` is missing
    and the split's default is left.

    ``trees``: the arrays of :data:`TREE_ARRAYS`, in that order.
    """
    (node_start, feature, threshold, default_left, left, right, slot, width, table_start,
     features_start, leaf_features, tables) = trees  # fmt: skip
    failed = np.zeros(_most_nodes(node_start), dtype=np.int64)
    for r in range(rows.shape[0]):
        for t in range(node_start.shape[0] - 1):
            first = node_start[t]
            failed[0] = 0
            for j in range(node_start[t + 1] - first):
                node = first + j
                if left[node] < 0:  # a leaf
                    d = width[node]
                    if d == 0:
                        continue
                    pattern = ((1 << d) - 1) & ~failed[j]
                    row_of_table = table_start[node] + pattern * d
                    named = features_start[node]
                    for k in range(d):
                        out[r, leaf_features[named + k]] += tables[row_of_table + k]
                else:
                    x = rows[r, feature[node]]
                    missing_left = np.isnan(x) & default_left[node]
                    goes_left = np.int64((x < threshold[node]) | missing_left)
                    failed[left[node]] = failed[j] | ((1 - goes_left) << slot[node])
                    failed[right[node]] = failed[j] | (goes_left << slot[node])


#: Rows :func:`add_block_contributions` takes through the trees at a time: their values,
#: paths and sums stay in the processor's cache (64 rows of 100 features: about 80 KB).
BLOCK_ROWS = 64


@numba.njit(cache=True, nogil=True)
def add_block_contributions(rows: np.ndarray, trees: tuple, out: np.ndarray) -> None:
    """As :func:`add_contributions`, :data:`BLOCK_ROWS` rows at a time.

    Each node is taken once per block rather than once per row, and its loop over the
    block's rows has no branch: a split compares a column of the block's values with its
    threshold, a leaf reads one table row per row of the block. Every row's contributions
    are added tree by tree, leaf by leaf and feature by feature, as in
    :func:`add_contributions`, so the sums are the same to the last bit.
    """
    (node_start, feature, threshold, default_left, left, right, slot, width, table_start,
     features_start, leaf_features, tables) = trees  # fmt: skip
    n, columns = rows.shape
    block = min(BLOCK_ROWS, max(n, 1))
    failed = np.zeros((_most_nodes(node_start), block), dtype=np.int32)
    values = np.empty((columns, block), dtype=np.float32)  # the block's rows, by column
    added = np.zeros((out.shape[1], block))
    table_row = np.empty(block, dtype=np.int64)
    for start in range(0, n, block):
        m = min(block, n - start)
        for column in range(columns):
            for i in range(m):
                values[column, i] = rows[start + i, column]
        added[:, :m] = 0.0
        for t in range(node_start.shape[0] - 1):
            first = node_start[t]
            for i in range(m):
                failed[0, i] = 0
            for j in range(node_start[t + 1] - first):
                node = first + j
                if left[node] < 0:  # a leaf
                    d = width[node]
                    if d == 0:
                        continue
                    followed_all = (1 << d) - 1
                    for i in range(m):
                        table_row[i] = table_start[node] + (followed_all & ~failed[j, i]) * d
                    named = features_start[node]
                    for k in range(d):
                        target = leaf_features[named + k]
                        for i in range(m):
                            added[target, i] += tables[table_row[i] + k]
                else:
                    column = feature[node]
                    cut = threshold[node]
                    missing_left = default_left[node]
                    bit = np.int32(1) << slot[node]
                    to_left, to_right = left[node], right[node]
                    for i in range(m):
                        x = values[column, i]
                        goes_left = (x < cut) | (np.isnan(x) & missing_left)
                        parent = failed[j, i]
                        failed[to_left, i] = parent | (0 if goes_left else bit)
                        failed[to_right, i] = parent | (bit if goes_left else 0)
        for i in range(m):
            for target in range(out.shape[1]):
                out[start + i, target] += added[target, i]
