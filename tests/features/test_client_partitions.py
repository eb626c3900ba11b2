"""Client partitions: each client once, with all its sessions, in client-id order."""

from __future__ import annotations

import numpy as np
import pytest

from features.client_partitions import ClientPartitions


@pytest.fixture(scope="module")
def small(cohort):
    """The first 600 clients of the synthetic cohort, shuffled, with their sessions."""
    clients, sessions = cohort
    chosen = clients.iloc[:600].sample(frac=1.0, random_state=3)
    return chosen, sessions[sessions["client_id"].isin(set(chosen["client_id"]))]


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


def test_a_partition_size_below_one_is_refused(small):
    with pytest.raises(ValueError, match="at least 1"):
        ClientPartitions(*small, size=0)
