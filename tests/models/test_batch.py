"""Batch scoring in blocks of clients: the same rows, in the same order, as one block."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.batch import (
    PARALLEL_FROM_CLIENTS,
    default_workers,
    score_extract,
    score_in_blocks,
)


@pytest.fixture(scope="module")
def extract(cohort):
    """The first 150 clients of the shared cohort (in a shuffled row order) and their sessions."""
    clients, sessions = cohort
    chosen = clients["client_id"].iloc[:150]
    return (
        clients[clients["client_id"].isin(chosen)].sample(frac=1.0, random_state=3),
        sessions[sessions["client_id"].isin(chosen)].sample(frac=1.0, random_state=4),
    )


@pytest.fixture(scope="module")
def whole(trained, extract):
    return score_extract(trained.model, *extract, explain=True)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(block_clients=st.integers(min_value=1, max_value=200))
def test_any_block_size_gives_the_rows_of_one_block(trained, extract, whole, block_clients):
    blocked = score_in_blocks(trained.model, *extract, explain=True, block_clients=block_clients)
    pd.testing.assert_frame_equal(blocked, whole)


def test_blocks_scored_in_two_processes_give_the_same_rows(trained, extract, whole):
    blocked = score_in_blocks(trained.model, *extract, explain=True, block_clients=40, workers=2)
    pd.testing.assert_frame_equal(blocked, whole)


def test_an_empty_extract_gives_an_empty_table(trained, extract):
    clients, sessions = extract
    empty = score_in_blocks(trained.model, clients.iloc[:0], sessions.iloc[:0], block_clients=10)
    assert empty.empty
    assert list(empty.columns) == list(score_extract(trained.model, *extract).columns)


@pytest.mark.parametrize("option", [{"block_clients": 0}, {"workers": 0}])
def test_a_block_size_or_worker_count_below_one_is_refused(trained, extract, option):
    with pytest.raises(ValueError, match="at least 1"):
        score_in_blocks(trained.model, *extract, **option)


def test_one_process_scores_a_small_extract_and_the_cores_a_big_one(monkeypatch):
    monkeypatch.setattr("models.batch.usable_cores", lambda: 3)
    assert default_workers(PARALLEL_FROM_CLIENTS - 1) == 1
    assert default_workers(PARALLEL_FROM_CLIENTS) == 3
