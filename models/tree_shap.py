"""XGBoost's exact TreeSHAP contributions, called through its C API.

``xgb.DMatrix(...)`` and ``Booster.predict(..., pred_contribs=True)`` are thin Python
wrappers around two documented C API calls (``XGDMatrixCreateFromDense`` and
``XGBoosterPredictFromDMatrix``, see XGBoost's ``c_api.h``), but for the one or few rows
of a service request the wrappers cost more than the C calls: argument checks, JSON
written per call, a class defined per result. Timed for one row with both boosters of
the demo model (2 cores, 2026-12-07): about 0.97-1.06 ms through the wrappers, 0.65-0.74 ms
through these calls, for the same numbers. XGBoost computes everything either way;
only the Python glue differs.

The results are exactly those of ``Booster.predict(matrix, pred_contribs=True)``
(``tests/models/test_tree_shap.py`` checks it), on the booster's own threads. The loaded
library and its error check (``xgboost.core._LIB``, ``_check_call``) are private names of
XGBoost's Python package, the ones its own wrappers use: the version range in
``pyproject.toml`` holds them, and those tests fail on an upgrade that moves them.
"""

from __future__ import annotations

import ctypes
import functools
import json

import numpy as np
import xgboost as xgb
from xgboost.core import _LIB, _check_call, c_bst_ulong

_CONTRIBUTIONS = json.dumps(
    {"type": 2, "training": False, "iteration_begin": 0, "iteration_end": 0, "strict_shape": False}
).encode()
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class ScoringMatrix:
    """Rows of features in XGBoost's own matrix (a DMatrix handle), NaN where missing.

    The rows are copied into XGBoost's memory, so ``features`` may change or go once
    this is built; the handle is freed with this object.
    """

    __slots__ = ("_handle", "rows")

    def __init__(self, features: np.ndarray, *, threads: int) -> None:
        """``features``: (rows, features) floats; ``threads``: XGBoost's ``nthread`` for
        the copy (-1: every core)."""
        if features.ndim != 2:
            raise ValueError(f"features must be a 2-D array, not {features.ndim}-D")
        if features.dtype not in _FLOATS:
            features = features.astype(np.float64)
        features = np.ascontiguousarray(features)
        self.rows = features.shape[0]
        interface = json.dumps(
            {
                "data": [features.__array_interface__["data"][0], True],
                "shape": list(features.shape),
                "strides": None,
                "typestr": features.dtype.str,  # byte order included
                "version": 3,
            }
        ).encode()
        self._handle = ctypes.c_void_p()
        _check_call(
            _LIB.XGDMatrixCreateFromDense(
                interface, _matrix_config(threads), ctypes.byref(self._handle)
            )
        )

    @property
    def handle(self) -> ctypes.c_void_p:
        """The DMatrix handle, valid while this object lives."""
        return self._handle

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None and self._handle.value is not None:
            _LIB.XGDMatrixFree(self._handle)
            self._handle = None


@functools.cache
def _matrix_config(threads: int) -> bytes:
    """XGBoost's settings for a matrix built on ``threads`` threads, written once per count
    (the service asks for 1 or -1), not per request."""
    return json.dumps({"missing": float("nan"), "nthread": threads, "data_split_mode": 0}).encode()


def tree_contributions(booster: xgb.Booster, matrix: ScoringMatrix) -> np.ndarray:
    """TreeSHAP values of every row of ``matrix`` (log-odds, float32), the bias last:
    ``booster.predict(matrix, pred_contribs=True)``."""
    shape = ctypes.POINTER(c_bst_ulong)()
    dimensions = c_bst_ulong()
    values = ctypes.POINTER(ctypes.c_float)()
    _check_call(
        _LIB.XGBoosterPredictFromDMatrix(
            booster.handle,
            matrix.handle,
            _CONTRIBUTIONS,
            ctypes.byref(shape),
            ctypes.byref(dimensions),
            ctypes.byref(values),
        )
    )
    result_shape = tuple(int(shape[d]) for d in range(dimensions.value))
    if 0 in result_shape:
        return np.zeros(result_shape, dtype=np.float32)
    # The buffer is the booster's, reused by its next prediction on this thread: copy it.
    return np.ctypeslib.as_array(values, shape=result_shape).copy()
