"""The training population's profile, read from selected rows of the landmark matrix."""

from __future__ import annotations

import numpy as np

from features.engineering import FEATURE_NAMES
from models.profile import reference_profile


def test_a_profile_of_selected_rows_equals_the_profile_of_their_copy():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(500, len(FEATURE_NAMES))).astype(np.float32)
    features[rng.random(features.shape) < 0.2] = np.nan
    rows = np.flatnonzero(rng.random(500) < 0.7)
    scores = {"dropout": rng.random(len(rows)), "poor_outcome": rng.random(len(rows))}
    selected = reference_profile(features, scores, rows=rows)
    assert selected == reference_profile(features[rows], scores)
    assert selected["rows"] == len(rows)
