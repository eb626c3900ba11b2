"""The cohort as tables: contract-typed clients and sessions, the oracle, the latent truth.

The tables carry exactly the dtypes the contract reader (:func:`features.contract.read_extract`)
produces, so that a written and re-read cohort equals the one in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pa_compute
import pyarrow.csv as pa_csv

from features.instruments import INSTRUMENTS, MEASURE_COLUMNS, SELF_HARM_ITEM
from features.vocabulary import GENDERS, PRIMARY_CONCERNS, TERMINATIONS
from training.synth.observe import Block
from training.synth.setting import Setting

__all__ = ["Cohort", "assemble_cohort", "write_cohort"]


@dataclass(frozen=True)
class Cohort:
    """A simulated extract and the simulator's hidden truth about it.

    Attributes:
        clients: the clients table, contract columns and dtypes.
        sessions: the sessions table, contract columns and dtypes.
        oracle: ``client_id``, ``dropout_probability``, ``poor_outcome_probability``: the
            simulator's true probability of each label given the client's latent state
            (see :func:`simulate_cohort`); not observable, an upper-bound baseline.
        latent: per client, the latent traits and events behind the extract (for checks
            and diagnostics only; never a model input).
    """

    clients: pd.DataFrame
    sessions: pd.DataFrame
    oracle: pd.DataFrame
    latent: pd.DataFrame = field(repr=False)


def write_cohort(cohort: Cohort, out_dir: Path) -> dict[str, Path]:
    """Write the cohort as contract CSV files (and the oracle) into ``out_dir``.

    Args:
        cohort: a simulated cohort.
        out_dir: directory to write to; created if missing.

    Returns:
        The written paths by table name: ``clients``, ``sessions``, ``oracle``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    options = pa_csv.WriteOptions(quoting_style="none", quoting_header="none")
    paths = {}
    for name, frame in (
        ("clients", cohort.clients),
        ("sessions", cohort.sessions),
        ("oracle", cohort.oracle),
    ):
        table = pa.Table.from_pandas(frame, preserve_index=False)
        for position, column in enumerate(table.schema):
            if pa.types.is_timestamp(column.type):
                # A date column, written as an ISO date without a time of day.
                table = table.set_column(
                    position, column.name, table.column(position).cast(pa.date32())
                )
        paths[name] = out_dir / f"{name}.csv"
        pa_csv.write_csv(table, paths[name], write_options=options)
    return paths


def assemble_cohort(*, blocks: list[Block], setting: Setting, n_clients: int) -> Cohort:
    """Join the blocks of a cohort into its four tables.

    Args:
        blocks: the simulated blocks, in client order.
        setting: the cohort's clinics and therapists (for their identifiers).
        n_clients: the cohort size.

    Returns:
        The cohort.
    """
    client = {k: np.concatenate([b.client[k] for b in blocks]) for k in blocks[0].client}
    offsets = np.cumsum([0] + [len(b.client["age"]) for b in blocks[:-1]])
    session = {
        k: np.concatenate([b.session[k] for b in blocks])
        for k in blocks[0].session
        if k != "client"
    }
    row_client = np.concatenate(
        [b.session["client"] + o for b, o in zip(blocks, offsets, strict=True)]
    )
    ids = _client_ids(n_clients)
    client_id = _text(ids)
    oracle = pd.DataFrame(
        {
            "client_id": client_id,
            "dropout_probability": client["oracle_dropout"],
            "poor_outcome_probability": client["oracle_poor"],
        }
    )
    return Cohort(
        clients=_clients_table(client=client, client_id=client_id, setting=setting),
        sessions=_sessions_table(session=session, client_id=_text(ids.take(pa.array(row_client)))),
        oracle=oracle,
        latent=_latent_table(client=client, client_id=client_id),
    )


def _client_ids(n_clients: int) -> pa.Array:
    """``c0000001``, ``c0000002``, ...: zero-padded to at least seven digits."""
    width = max(7, len(str(n_clients)))
    numbers = pa.array(np.arange(1, n_clients + 1)).cast(pa.string())
    return pa_compute.binary_join_element_wise(
        "c", pa_compute.utf8_lpad(numbers, width, padding="0"), ""
    )


def _clients_table(
    *, client: dict[str, np.ndarray], client_id: pd.Series, setting: Setting
) -> pd.DataFrame:
    ongoing = client["termination"] == TERMINATIONS.index("ongoing")
    return pd.DataFrame(
        {
            "client_id": client_id,
            "clinic_id": _labels(client["clinic"], names=setting.clinic_ids),
            "therapist_id": _labels(client["therapist"], names=setting.therapist_ids),
            "intake_date": _dates(client["intake_day"]),
            "age": client["age"].astype(np.int64),
            "gender": _labels(client["gender"], names=GENDERS),
            "primary_concern": _labels(client["concern"], names=PRIMARY_CONCERNS),
            "prior_treatment": pd.arrays.BooleanArray(
                client["prior_treatment"], ~client["prior_known"]
            ),
            "termination": _labels(client["termination"], names=TERMINATIONS),
            "end_date": np.where(ongoing, np.datetime64("NaT"), _dates(client["end_day"])),
        }
    )


def _sessions_table(*, session: dict[str, np.ndarray], client_id: pd.Series) -> pd.DataFrame:
    columns = {
        "client_id": client_id,
        "session_number": session["session_number"].astype(np.int64),
        "session_date": _dates(session["session_day"]),
        "attended": session["attended"],
    }
    for column in (*MEASURE_COLUMNS, SELF_HARM_ITEM):
        values = session[column]
        if column == SELF_HARM_ITEM or INSTRUMENTS[column].integer:
            missing = np.isnan(values)
            columns[column] = pd.arrays.IntegerArray(
                np.where(missing, 0, values).astype(np.int64), missing
            )
        else:
            columns[column] = values
    # copy=False: the arrays are fresh, and consolidating them would copy every column.
    return pd.DataFrame(columns, copy=False)


def _latent_table(*, client: dict[str, np.ndarray], client_id: pd.Series) -> pd.DataFrame:
    traits = (
        "engagement",
        "severity",
        "responsiveness",
        "alliance_trait",
        "recovery_rate",
        "planned_sessions",
        "left_unilaterally",
    )
    return pd.DataFrame(
        {
            "client_id": client_id,
            **{k: client[k] for k in traits},
            # Session 0 means "no such event in the episode": a missing value in the table.
            "rupture_session": pd.arrays.IntegerArray(
                client["rupture_session"].astype(np.int64), client["rupture_session"] == 0
            ),
            "rupture_repaired": client["rupture_repaired"],
            "sudden_gain_session": pd.arrays.IntegerArray(
                client["sudden_gain_session"].astype(np.int64), client["sudden_gain_session"] == 0
            ),
        }
    )


def _text(values: pa.Array) -> pd.Series:
    """A pyarrow string array as a pandas text column (the dtype the contract reader gives)."""
    return pd.Series(pd.arrays.ArrowStringArray(values))


def _labels(codes: np.ndarray, *, names: tuple[str, ...] | np.ndarray) -> pd.Series:
    """Category codes as a text column of their names."""
    return _text(pa.array(np.asarray(names)).take(pa.array(codes)))


def _dates(days: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 as a datetime64[ns] column (dates without a time of day)."""
    return (days.astype("datetime64[D]")).astype("datetime64[ns]")
