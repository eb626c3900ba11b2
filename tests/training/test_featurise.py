"""Featurising in client partitions: the same rows and features as the whole-table build."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.engineering import FEATURE_NAMES, compute_features
from features.landmarks import build_landmarks
from training.featurise import featurise


@pytest.fixture(scope="module")
def small(cohort):
    """The first 600 clients of the synthetic cohort, shuffled, with their sessions."""
    clients, sessions = cohort
    chosen = clients.iloc[:600].sample(frac=1.0, random_state=3)
    return chosen, sessions[sessions["client_id"].isin(set(chosen["client_id"]))]


@pytest.mark.parametrize(("size", "threads"), [(97, 1), (97, 2), (10_000, 1)])
def test_partitions_give_the_whole_table_rows_and_features_in_float32(small, size, threads):
    clients, sessions = small
    whole = build_landmarks(clients, sessions, max_landmark=12)
    expected = compute_features(whole.history)

    matrix = featurise(
        clients, sessions, max_landmark=12, clients_per_partition=size, threads=threads
    )

    pd.testing.assert_frame_equal(matrix.examples, whole.examples.reset_index(drop=True))
    assert matrix.features.dtype == np.float32
    assert matrix.features.shape == (len(whole.examples), len(FEATURE_NAMES))
    np.testing.assert_array_equal(matrix.features, expected.astype(np.float32))
    assert len(matrix) == len(whole.examples)


def test_an_extract_without_clients_gives_no_rows(small):
    clients, sessions = small
    matrix = featurise(clients.iloc[:0], sessions.iloc[:0], max_landmark=5)
    assert len(matrix) == 0 and matrix.features.shape == (0, len(FEATURE_NAMES))
