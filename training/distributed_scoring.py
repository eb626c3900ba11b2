"""Batch scoring on a Dask cluster: ``dropout-risk score --engine dask [--scheduler ADDRESS]``.

The extract is read from Parquet in partitions of clients (:func:`training.partitions.
co_partitioned`, as for training); on a worker, each partition is checked against the data
contract and scored by :func:`models.batch.score_extract`, the code that scores on one
machine, with the model sent to every worker once. Each worker writes its partition's rows
as one Parquet file under the output directory (``part-00000.parquet``, ...), so only counts
come back to this process and the output never has to fit in its memory. On a cluster of
several machines that directory must be on storage every worker can write to.

Within a file the rows are ordered by client and landmark; the files together hold exactly
the rows ``score`` writes on one machine (a client's rows are never split between files),
in another order.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import dask
import pandas as pd

from models.batch import score_extract
from models.bundle import RiskModel
from training.distributed import dask_client
from training.partitions import co_partitioned, validated_partition

#: Clients per partition: small enough for a worker, big enough to keep the trees busy.
CLIENTS_PER_PARTITION = 25_000


@dataclass(frozen=True)
class ClusterScoring:
    """What a scoring run on a cluster wrote.

    Attributes:
        rows: landmark rows scored (one per client and landmark).
        files: the Parquet files written, one per partition that held clients.
    """

    rows: int
    files: list[Path]


def score_on_cluster(
    clients_path: Path,
    sessions_path: Path,
    out: Path,
    *,
    model: RiskModel,
    explain: bool = False,
    scheduler: str | None = None,
    clients_per_partition: int = CLIENTS_PER_PARTITION,
) -> ClusterScoring:
    """Score a Parquet extract on a Dask cluster into the Parquet directory ``out``.

    ``out`` is created; Parquet files already in it are removed first, so that the directory
    holds this run's rows only.

    Raises:
        ContractError: a table is not Parquet, cannot be read, or a partition breaks the
            data contract (named, with its first failure).
        ClusterUnavailable: the scheduler cannot be reached.
    """
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("part-*.parquet"):
        stale.unlink()
    with dask_client(scheduler) as client:
        pairs, _ = co_partitioned(
            client, clients_path, sessions_path, clients_per_partition=clients_per_partition
        )
        [shared_model] = client.scatter([model], broadcast=True)
        written = client.compute(
            [
                dask.delayed(_score_partition)(
                    clients,
                    sessions,
                    index=index,
                    model=shared_model,
                    explain=explain,
                    path=out / f"part-{index:05d}.parquet",
                )  # fmt: skip
                for index, (clients, sessions) in enumerate(pairs)
            ],
            sync=True,
        )
    files = [path for path, rows in written if rows]
    return ClusterScoring(rows=sum(rows for _, rows in written), files=files)


def _score_partition(
    clients: pd.DataFrame,
    sessions: pd.DataFrame,
    *,
    index: int,
    model: RiskModel,
    explain: bool,
    path: Path,
) -> tuple[Path, int]:
    """Validate and score one partition on a worker; write its rows to ``path``."""
    clients, sessions = validated_partition(clients, sessions, index=index)
    if clients.empty:
        return path, 0
    scores = score_extract(model, clients, sessions, explain=explain)
    scratch = path.with_suffix(".partial")
    scores.to_parquet(scratch, index=False)
    # A reader never sees half a file: the part appears whole or not at all.
    shutil.move(scratch, path)
    return path, len(scores)
