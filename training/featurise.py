"""An extract's landmark rows and features, computed in client partitions into one matrix.

:func:`featurise` gives what :func:`features.landmarks.build_landmarks` and
:func:`features.engineering.compute_features` give for a whole extract, but builds them a
partition of clients at a time (clients in client-id order, so the rows come out in the
order the whole-table build gives them), writing each partition's features straight into a
preallocated float32 matrix. Memory therefore grows with the landmark rows (4 bytes per
feature) and not with the histories and intermediate columns of the whole extract, which
only ever exist for one partition per thread. XGBoost works in float32 anyway, so the
boosters see the same values.

The Dask engine featurises each of its partitions with the same function
(:mod:`training.partitions`).
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.client_partitions import ClientPartitions
from features.engineering import FEATURE_NAMES, compute_features
from features.landmarks import build_landmarks

#: Clients per partition: a partition's histories and columns take about 300 MB.
CLIENTS_PER_PARTITION = 10_000


@dataclass(frozen=True)
class LandmarkMatrix:
    """The landmark rows of an extract and their features.

    Attributes:
        examples: one row per landmark, as :attr:`features.landmarks.LandmarkSet.examples`.
        features: float32, one row per landmark and one column per :data:`FEATURE_NAMES`
            entry (NaN where unknown).
    """

    examples: pd.DataFrame
    features: np.ndarray

    def __len__(self) -> int:
        return len(self.examples)


def featurise(
    clients: pd.DataFrame,
    sessions: pd.DataFrame,
    *,
    max_landmark: int,
    clients_per_partition: int = CLIENTS_PER_PARTITION,
    threads: int = 1,
) -> LandmarkMatrix:
    """Every landmark of a contract-valid extract, with its features, partition by partition.

    Args:
        clients: contract-valid clients table.
        sessions: contract-valid sessions table.
        max_landmark: L (landmarks at sessions 1..L).
        clients_per_partition: clients featurised together.
        threads: partitions featurised at the same time (numpy releases the GIL in most of
            the feature arithmetic); each holds one partition's intermediates.
    """
    partitions = ClientPartitions(clients, sessions, size=clients_per_partition)
    if not len(partitions):
        only = build_landmarks(clients, sessions, max_landmark=max_landmark)
        return LandmarkMatrix(only.examples, np.empty((0, len(FEATURE_NAMES)), np.float32))
    starts = np.concatenate([[0], np.cumsum(partitions.landmark_rows(max_landmark))])
    features = np.empty((int(starts[-1]), len(FEATURE_NAMES)), dtype=np.float32)

    def one(index: int, part_clients: pd.DataFrame, part_sessions: pd.DataFrame) -> pd.DataFrame:
        landmarks = build_landmarks(part_clients, part_sessions, max_landmark=max_landmark)
        features[starts[index] : starts[index + 1]] = compute_features(landmarks.history)
        return landmarks.examples

    examples: list[pd.DataFrame] = []
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        running: deque[Future[pd.DataFrame]] = deque()
        for index, (part_clients, part_sessions) in enumerate(partitions):
            running.append(pool.submit(one, index, part_clients, part_sessions))
            if len(running) >= threads:  # at most ``threads`` partitions in memory
                examples.append(running.popleft().result())
        examples += [future.result() for future in running]
    return LandmarkMatrix(examples=pd.concat(examples, ignore_index=True), features=features)
