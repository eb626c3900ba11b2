"""Batch scoring of an extract: one row per client and landmark k = 1..min(L, sessions).

Uses the same landmark points, histories, feature function and bundle as training and the
service; pandas only for the tables in and out. A big extract is scored in blocks of clients
(:func:`score_in_blocks`), which bounds memory and spreads the blocks over processes: the
trees' contributions run on one thread per block, so the cores are used by blocks.
"""

from __future__ import annotations

import functools
import json
import math
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pandas as pd

from features.client_partitions import ClientPartitions
from features.history import HistoryBatch
from features.landmarks import landmark_points
from features.vocabulary import DEFAULT_FACTORS, OUTCOMES
from models.bundle import RiskModel
from models.cores import usable_cores

SCORE_COLUMNS = (
    "client_id",
    "as_of_session",
    "dropout_probability",
    "dropout_probability_low",
    "dropout_probability_high",
    "dropout_risk_level",
    "poor_outcome_probability",
    "poor_outcome_probability_low",
    "poor_outcome_probability_high",
    "poor_outcome_risk_level",
)
#: Per outcome, the OutcomeAssessment attributes written as ``{outcome}_{attribute}``.
_OUTCOME_FIELDS = ("probability", "probability_low", "probability_high", "risk_level")
#: Columns ``explain`` adds: the factors of each outcome (JSON lists) and the signals' codes.
_EXPLAIN_COLUMNS = tuple(f"{outcome}_factors" for outcome in OUTCOMES) + ("signals",)
#: Clients per block: a block's histories, features and contributions stay well under a GB.
DEFAULT_BLOCK_CLIENTS = 20_000
#: Below this many clients one process scores faster than starting several.
PARALLEL_FROM_CLIENTS = 5_000


def score_extract(
    model: RiskModel, clients: pd.DataFrame, sessions: pd.DataFrame, *, explain: bool = False
) -> pd.DataFrame:
    """Scores of every landmark of a contract-valid extract (factors as JSON with ``explain``)."""
    points = landmark_points(sessions, max_landmark=model.max_landmark)
    if points.empty:  # no session to score (the feature code needs at least one row)
        return pd.DataFrame(
            columns=list(SCORE_COLUMNS) + (list(_EXPLAIN_COLUMNS) if explain else [])
        )
    history = HistoryBatch.from_tables(clients, sessions, points, window=model.max_landmark)
    assessments = model.assess(history, factors=DEFAULT_FACTORS if explain else 0)
    table = points.assign(
        **{
            f"{outcome}_{field}": [getattr(getattr(a, outcome), field) for a in assessments]
            for outcome in OUTCOMES
            for field in _OUTCOME_FIELDS
        }
    )[list(SCORE_COLUMNS)]
    if explain:
        for outcome in OUTCOMES:
            table[f"{outcome}_factors"] = [
                json.dumps([f.text for f in getattr(a, outcome).factors]) for a in assessments
            ]
        table["signals"] = [json.dumps([s.code for s in a.signals]) for a in assessments]
    return table


def score_in_blocks(
    model: RiskModel,
    clients: pd.DataFrame,
    sessions: pd.DataFrame,
    *,
    explain: bool = False,
    block_clients: int = DEFAULT_BLOCK_CLIENTS,
    workers: int = 1,
) -> pd.DataFrame:
    """:func:`score_extract` of blocks of ``block_clients`` clients, ``workers`` at a time.

    The rows and their order are :func:`score_extract`'s: blocks are contiguous runs of the
    sorted client ids, and they are put back in that order. With ``workers`` > 1 the blocks
    are scored in as many processes (spawned, so that no OpenMP or thread state of this
    process is inherited), each sent the model once per block.

    Args:
        model: The bundle to score with.
        clients: Contract-valid clients table.
        sessions: Contract-valid sessions table.
        explain: Add the factors and signals.
        block_clients: Clients per block at most (at least 1); with several workers, blocks
            are made smaller when that gives each worker at least two.
        workers: Processes scoring blocks at the same time (1: this process).

    Raises:
        ValueError: ``block_clients`` or ``workers`` is below 1.
    """
    if block_clients < 1 or workers < 1:
        raise ValueError("block_clients and workers must be at least 1")
    if workers > 1:  # at least two blocks per process, so that none waits for the last
        block_clients = min(block_clients, max(1, math.ceil(len(clients) / (2 * workers))))
    blocks = list(ClientPartitions(clients, sessions, size=block_clients))
    if not blocks:
        return score_extract(model, clients, sessions, explain=explain)
    score = functools.partial(_score_block, model, explain)
    if workers == 1 or len(blocks) == 1:
        parts = [score(block) for block in blocks]
    else:
        workers = min(workers, len(blocks))
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            parts = list(pool.map(score, blocks))
    return pd.concat(parts, ignore_index=True)


def default_workers(clients: int) -> int:
    """Processes worth starting for ``clients`` clients: the :func:`usable_cores`, or 1
    below :data:`PARALLEL_FROM_CLIENTS` (starting a process costs seconds)."""
    if clients < PARALLEL_FROM_CLIENTS:
        return 1
    return usable_cores()


def _score_block(
    model: RiskModel, explain: bool, block: tuple[pd.DataFrame, pd.DataFrame]
) -> pd.DataFrame:
    return score_extract(model, *block, explain=explain)
