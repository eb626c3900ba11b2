"""Featurising in client partitions: the same rows and features as the whole-table build."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.engineering import FEATURE_NAMES, compute_features
from features.landmarks import build_landmarks
from training.featurise import ClientPartitions, featurise


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


def test_each_client_is_in_one_partition_with_all_its_sessions(small):
    clients, sessions = small
    partitions = ClientPartitions(clients, sessions, size=250)
    parts = list(partitions)
    assert len(partitions) == len(parts) == 3
    seen = [set(part_clients["client_id"]) for part_clients, _ in parts]
    assert sum(map(len, seen)) == len(clients) == len(set().union(*seen))
    for (_, part_sessions), ids in zip(parts, seen, strict=True):
        assert set(part_sessions["client_id"]) <= ids
        assert len(part_sessions) == sessions["client_id"].isin(ids).sum()
    # Partitions follow client-id order, so their landmarks concatenate in whole-table order.
    assert max(seen[0]) < min(seen[1]) and max(seen[1]) < min(seen[2])
    early = [(s["session_number"] <= 5).sum() for _, s in parts]
    np.testing.assert_array_equal(partitions.landmark_rows(5), early)


def test_an_extract_without_clients_gives_no_rows(small):
    clients, sessions = small
    matrix = featurise(clients.iloc[:0], sessions.iloc[:0], max_landmark=5)
    assert len(matrix) == 0 and matrix.features.shape == (0, len(FEATURE_NAMES))


def test_a_partition_size_below_one_is_refused(small):
    with pytest.raises(ValueError, match="at least 1"):
        ClientPartitions(*small, size=0)
