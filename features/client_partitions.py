"""An extract's clients in client-id order, a partition of them at a time, with their sessions.

Training featurises an extract partition by partition (:mod:`training.featurise`) and batch
scoring scores it block by block (:mod:`models.batch`): both need each client's rows together
and the partitions in client-id order, so that what they give concatenates in the order the
whole-table build gives (:func:`features.landmarks.landmark_points` sorts by client id).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd


class ClientPartitions:
    """The clients in client-id order, ``size`` at a time, with their sessions.

    Iterating gives ``(clients, sessions)`` pairs, each copied out of the tables only when
    its turn comes. Sessions of a client not in ``clients`` are in no partition (a
    contract-valid extract has none).
    """

    def __init__(self, clients: pd.DataFrame, sessions: pd.DataFrame, *, size: int) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.clients, self.sessions = clients, sessions
        ids = clients["client_id"].to_numpy(dtype=object)
        rank = np.empty(len(ids), dtype=np.int64)
        rank[np.argsort(ids, kind="stable")] = np.arange(len(ids))
        client_part = rank // size
        owner = pd.Index(ids).get_indexer(sessions["client_id"].to_numpy(dtype=object))
        self.session_part = np.where(owner >= 0, client_part[np.maximum(owner, 0)], -1)
        self.count = int(client_part.max()) + 1 if len(ids) else 0
        self.client_order = np.argsort(client_part, kind="stable")
        self.session_order = np.argsort(self.session_part, kind="stable")
        edges = np.arange(self.count + 1)
        self.client_bounds = np.searchsorted(client_part[self.client_order], edges)
        self.session_bounds = np.searchsorted(self.session_part[self.session_order], edges)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
        for part in range(self.count):
            clients = self.client_order[self.client_bounds[part] : self.client_bounds[part + 1]]
            sessions = self.session_order[
                self.session_bounds[part] : self.session_bounds[part + 1]
            ]
            yield self.clients.iloc[clients], self.sessions.iloc[sessions]

    def landmark_rows(self, max_landmark: int) -> np.ndarray:
        """Landmark rows of each partition: its sessions numbered 1..L."""
        early = (self.sessions["session_number"].to_numpy() <= max_landmark) & (
            self.session_part >= 0
        )
        return np.bincount(self.session_part[early], minlength=self.count)
