"""A clinic extract in partitions on a Dask cluster, for :mod:`training.distributed`.

Both tables are read from Parquet (a file or a directory of files) and shuffled on a hash of
``client_id`` into the same number of partitions, so partition *i* of the sessions holds
exactly the sessions of the clients in partition *i* of the clients. Each pair is then
checked against the data contract and turned into landmarks, features and labels by the
same functions as the single-machine path (:func:`features.contract.validate_extract`,
:func:`training.featurise.featurise`).
Because a client's rows never span two partitions, the per-partition checks are the
whole-table checks (unique ids, sessions of unknown clients, gaps in session numbers).

Which clients are held out for testing is :func:`training.fitting.is_test_client`, as on
one machine; the remaining clients are split into fit, validation and calibration parts
(75/12.5/12.5) by further hashes of the client id and the seed, so no partition needs to
see another's clients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from dask.delayed import Delayed
from distributed import Client

from features.contract import ContractError, validate_extract
from features.engineering import FEATURE_NAMES
from features.labels import derive_labels
from features.vocabulary import OUTCOMES
from training.featurise import featurise
from training.fitting import TrainingConfig, is_test_client
from training.pipeline import training_counts

PARQUET_SUFFIXES = (".parquet", ".pq")
#: The training clients' parts, numbered as in the ``part`` column.
PARTS = ("fit", "validation", "calibration")
#: Columns of the landmark rows beside the features (as in ``LandmarkSet.examples``).
EXAMPLE_DTYPES = {
    "client_id": "string",
    "as_of_session": "int64",
    "clinic_id": "string",
    "therapist_id": "string",
    "gender": "string",
    "age": "float64",
    "primary_concern": "string",
    "dropout": "float64",
    "poor_outcome": "float64",
}


@dataclass(frozen=True)
class PartitionedExtract:
    """The landmarks of an extract, persisted on the cluster, and what went into them.

    Attributes:
        landmarks: one row per landmark: the labels (0/1, NaN where the contract gives
            none), the other :data:`EXAMPLE_DTYPES` columns prefixed ``example_`` (some are
            also features), the features, ``test`` (held-out client) and ``part`` (index
            into :data:`PARTS`; meaningless for test clients). :func:`examples_of` gives the
            examples back.
        counts: :func:`training.pipeline.training_counts` of the whole extract.
        summary: sessions, termination rates and label rates (the run's data fingerprint
            without file hashes, as :func:`training.run.fingerprint` states them).
        partitions: how many partitions the extract was shuffled into.
    """

    landmarks: dd.DataFrame
    counts: dict[str, int]
    summary: dict[str, object]
    partitions: int


def parquet_files(path: str | Path) -> dict[str, Path]:
    """The Parquet files of one table, named as the fingerprint names them.

    Raises:
        ContractError: the path is missing, not Parquet, or a directory without Parquet files.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in PARQUET_SUFFIXES)
        if not files:
            raise ContractError(f"{path}: no .parquet files in this directory")
        return {f"{path.name}/{file.relative_to(path)}": file for file in files}
    if path.suffix.lower() not in PARQUET_SUFFIXES:
        raise ContractError(
            f"{path}: the dask engine reads Parquet (a .parquet file or a directory of them);"
            " convert the table or use --engine single"
        )
    if not path.is_file():
        raise ContractError(f"{path}: no such file")
    return {path.name: path}


def read_partitions(
    client: Client,
    clients_path: Path,
    sessions_path: Path,
    *,
    config: TrainingConfig,
    clients_per_partition: int,
) -> PartitionedExtract:
    """Read, co-partition, validate and featurise an extract on the cluster behind ``client``.

    Raises:
        ContractError: a table cannot be read, has no ``client_id`` column, or a partition
            breaks the data contract (the first failure is named).
    """
    pairs, partitions = co_partitioned(
        client, clients_path, sessions_path, clients_per_partition=clients_per_partition
    )
    prepared = client.persist(
        [
            dask.delayed(_prepare, nout=2)(clients, sessions, index=index, config=config)
            for index, (clients, sessions) in enumerate(pairs)
        ]
    )
    landmarks = dd.from_delayed([part[0] for part in prepared], meta=_meta(), verify_meta=False)
    summaries = client.compute([part[1] for part in prepared], sync=True)
    counts, summary = _combine(summaries)
    return PartitionedExtract(
        landmarks=client.persist(landmarks), counts=counts, summary=summary, partitions=partitions
    )


def co_partitioned(
    client: Client, clients_path: Path, sessions_path: Path, *, clients_per_partition: int
) -> tuple[list[tuple[Delayed, Delayed]], int]:
    """Both tables of a Parquet extract as pairs of partitions holding the same clients.

    Returns:
        The (clients, sessions) pairs, not yet computed, and how many there are.

    Raises:
        ContractError: a table cannot be read or has no ``client_id`` column.
    """
    tables = {}
    for name, path in (("clients", clients_path), ("sessions", sessions_path)):
        files = [str(file) for file in parquet_files(path).values()]
        try:
            tables[name] = dd.read_parquet(files)
        except (ValueError, OSError) as error:
            raise ContractError(f"{path}: cannot be read: {error}") from error
        if "client_id" not in tables[name].columns:
            raise ContractError(f"{path}: {name}: missing column client_id")
    total = int(client.compute(tables["clients"].shape[0], sync=True))
    partitions = max(1, math.ceil(total / clients_per_partition))
    pairs = zip(
        _by_client(tables["clients"], partitions).to_delayed(),
        _by_client(tables["sessions"], partitions).to_delayed(),
        strict=True,
    )
    return list(pairs), partitions


def _by_client(table: dd.DataFrame, partitions: int) -> dd.DataFrame:
    """``table`` hash-partitioned on ``client_id`` (the same hash for both tables)."""
    keyed = table.assign(
        client_bucket=table["client_id"].map_partitions(_client_hash, meta=("client_id", "u8"))
    )
    return keyed.shuffle(on="client_bucket", npartitions=partitions).drop(columns="client_bucket")


def _client_hash(client_id: pd.Series) -> pd.Series:
    text = client_id.astype(object).where(client_id.notna(), "").astype(str).to_numpy(object)
    return pd.Series(pd.util.hash_array(text), index=client_id.index)


def validated_partition(
    clients: pd.DataFrame, sessions: pd.DataFrame, *, index: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One partition's tables checked against the data contract (and typed by it).

    Raises:
        ContractError: the partition breaks the contract; the first failure is named.
    """
    report = validate_extract(clients, sessions)
    if not report.ok:
        raise ContractError(
            f"{report.summary()} (partition {index}; row numbers count within it);"
            f" first: {report.lines()[0]}"
        )
    return report.clients, report.sessions


def _prepare(
    clients: pd.DataFrame, sessions: pd.DataFrame, *, index: int, config: TrainingConfig
) -> tuple[pd.DataFrame, dict[str, object]]:
    """One partition's landmark rows and its counts (runs on a worker)."""
    clients, sessions = validated_partition(clients, sessions, index=index)
    landmarks = featurise(clients, sessions, max_landmark=config.max_landmark)
    frame = landmark_rows(landmarks.examples, landmarks.features, config=config)
    labels = derive_labels(clients, sessions)
    summary = {
        "counts": training_counts(clients, landmarks.examples),
        "sessions": len(sessions),
        "termination": clients["termination"].value_counts().to_dict(),
        "labelled": {o: int(labels[o].notna().sum()) for o in OUTCOMES},
        "events": {o: int(labels[o].fillna(False).sum()) for o in OUTCOMES},
    }
    return frame, summary


def landmark_rows(
    examples: pd.DataFrame, features: np.ndarray, *, config: TrainingConfig
) -> pd.DataFrame:
    """Examples and features side by side, with each client's test flag and part."""
    ids = examples["client_id"].to_numpy(dtype=object).astype(str)
    unique, inverse = np.unique(ids, return_inverse=True)
    fit = _drawn(unique, "fit", config.seed, share=0.75)
    validation = _drawn(unique, "validation", config.seed, share=0.5)
    part = np.where(fit, 0, np.where(validation, 1, 2)).astype("int8")
    columns = {
        _column(name): examples[name].to_numpy(dtype=float, na_value=np.nan)
        if name in OUTCOMES
        else examples[name].to_numpy()
        for name in EXAMPLE_DTYPES
    }
    dtypes = {_column(name): dtype for name, dtype in EXAMPLE_DTYPES.items()}
    values = np.asarray(features, dtype=float).reshape(-1, len(FEATURE_NAMES))
    return pd.concat(
        [
            pd.DataFrame(columns).astype(dtypes),
            pd.DataFrame(values, columns=list(FEATURE_NAMES)),
            pd.DataFrame(
                {
                    "test": is_test_client(unique, share=config.test_share)[inverse],
                    "part": part[inverse],
                }
            ),
        ],
        axis=1,
    )


def examples_of(rows: pd.DataFrame) -> pd.DataFrame:
    """The examples columns of gathered landmark rows, named as in ``LandmarkSet.examples``."""
    return rows[[_column(name) for name in EXAMPLE_DTYPES]].set_axis(list(EXAMPLE_DTYPES), axis=1)


def _column(name: str) -> str:
    return name if name in OUTCOMES else f"example_{name}"


def _drawn(clients: np.ndarray, salt: str, seed: int, *, share: float) -> np.ndarray:
    """A stable draw per client with probability ``share``, independent of the test split."""
    return is_test_client(np.char.add(f"{salt}:{seed}:", clients.astype(str)), share=share)


def _meta() -> pd.DataFrame:
    examples = pd.DataFrame({name: pd.Series(dtype=t) for name, t in EXAMPLE_DTYPES.items()})
    return landmark_rows(
        examples, np.empty((0, len(FEATURE_NAMES))), config=TrainingConfig(bootstrap=0)
    )


def _combine(summaries: list[dict[str, object]]) -> tuple[dict[str, int], dict[str, object]]:
    """The partitions' counts and summaries added up (clients never span partitions)."""
    counts: dict[str, int] = {}
    termination: dict[str, int] = {}
    labelled = dict.fromkeys(OUTCOMES, 0)
    events = dict.fromkeys(OUTCOMES, 0)
    for part in summaries:
        for key, value in part["counts"].items():
            counts[key] = counts.get(key, 0) + int(value)
        for key, value in part["termination"].items():
            termination[key] = termination.get(key, 0) + int(value)
        for outcome in OUTCOMES:
            labelled[outcome] += part["labelled"][outcome]
            events[outcome] += part["events"][outcome]
    clients = counts.get("clients", 0)
    summary = {
        "clients": clients,
        "sessions": sum(int(part["sessions"]) for part in summaries),
        "termination_rates": {
            key: round(value / clients, 4)
            for key, value in sorted(termination.items(), key=lambda item: -item[1])
        },
        "label_rates": {
            o: round(events[o] / labelled[o], 4) if labelled[o] else float("nan") for o in OUTCOMES
        },
    }
    return counts, summary
