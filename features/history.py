"""Client histories as of a session: the one input of the feature function.

A :class:`HistoryBatch` holds ``n`` client histories, each cut at its own landmark session
``k``, as plain numpy arrays: the client row's predictors and sessions ``1..window`` with
every value after session ``k`` set to missing. Everything a score may depend on is in it
and nothing from after session ``k`` is, which is what makes "no leakage" checkable.

Two builders fill it: :meth:`HistoryBatch.from_tables` for training and batch scoring
(vectorised over a whole extract) and :meth:`HistoryBatch.from_records` for one request
(plain Python, no pandas; :meth:`HistoryBatch.from_each_record` for several at once).
Both feed the same feature function.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from features.instruments import MEASURE_COLUMNS, SELF_HARM_ITEM

_DAY = np.timedelta64(1, "D")


@dataclass(frozen=True)
class HistoryBatch:
    """Histories of ``n`` clients, each through its own session ``as_of_session``.

    Attributes:
        client_id: (n,) client identifiers (not a predictor).
        as_of_session: (n,) the landmark ``k`` of each history, 1 <= k <= window.
        age: (n,) age in years.
        gender: (n,) contract gender category.
        primary_concern: (n,) contract concern category.
        prior_treatment: (n,) 1.0, 0.0 or NaN when not recorded.
        session_day: (n, window) days from intake to each session; NaN after k.
        attended: (n, window) 1.0 attended, 0.0 missed; NaN after k.
        measures: (n, window, len(MEASURE_COLUMNS)) scores in contract column order; NaN
            where not recorded, for missed sessions and after k.
        self_harm_item: (n, window) PHQ-9 item 9 answers (0-3); NaN where not recorded and
            after k. Not a model input: it feeds the self-harm safety signal.
    """

    client_id: np.ndarray
    as_of_session: np.ndarray
    age: np.ndarray
    gender: np.ndarray
    primary_concern: np.ndarray
    prior_treatment: np.ndarray
    session_day: np.ndarray
    attended: np.ndarray
    measures: np.ndarray
    self_harm_item: np.ndarray

    def __len__(self) -> int:
        return len(self.as_of_session)

    @property
    def window(self) -> int:
        """The number of session slots (the largest landmark)."""
        return self.attended.shape[1]

    def take(self, rows: np.ndarray | Sequence[int]) -> HistoryBatch:
        """The histories at ``rows``, in that order."""
        return HistoryBatch(**{name: value[rows] for name, value in self._arrays().items()})

    def row(self, index: int) -> HistoryBatch:
        """The history at ``index`` as a batch of one (views, not copies: do not write)."""
        return HistoryBatch(
            **{name: value[index : index + 1] for name, value in self._arrays().items()}
        )

    def equals(self, other: HistoryBatch) -> bool:
        """Whether both batches hold exactly the same histories (NaN equal to NaN)."""
        return all(
            _same(mine, theirs)
            for mine, theirs in zip(self._arrays().values(), other._arrays().values(), strict=True)
        )

    def _arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_tables(
        cls,
        clients: pd.DataFrame,
        sessions: pd.DataFrame,
        landmarks: pd.DataFrame,
        *,
        window: int,
    ) -> HistoryBatch:
        """Histories for every ``(client_id, as_of_session)`` row of ``landmarks``.

        Args:
            clients: contract-valid clients table.
            sessions: contract-valid sessions table.
            landmarks: rows of ``client_id`` and ``as_of_session`` (k, 1..window).
            window: number of session slots; sessions after it are never read.
        """
        client_ids = pd.Index(clients["client_id"])
        n_clients = len(client_ids)
        early = sessions[sessions["session_number"] <= window]
        row = client_ids.get_indexer(early["client_id"])
        slot = early["session_number"].to_numpy(dtype=np.int64) - 1

        intake = clients["intake_date"].to_numpy(dtype="datetime64[ns]")
        session_day = np.full((n_clients, window), np.nan)
        session_day[row, slot] = (
            early["session_date"].to_numpy(dtype="datetime64[ns]") - intake[row]
        ) / _DAY
        attended = np.full((n_clients, window), np.nan)
        attended[row, slot] = early["attended"].to_numpy(dtype=float)
        measures = np.full((n_clients, window, len(MEASURE_COLUMNS)), np.nan)
        measures[row, slot, :] = early[list(MEASURE_COLUMNS)].to_numpy(
            dtype=float, na_value=np.nan
        )
        self_harm_item = np.full((n_clients, window), np.nan)
        if SELF_HARM_ITEM in early:
            self_harm_item[row, slot] = early[SELF_HARM_ITEM].to_numpy(
                dtype=float, na_value=np.nan
            )

        pick = client_ids.get_indexer(landmarks["client_id"])
        if (pick < 0).any():
            raise ValueError("landmarks name a client_id that is not in the clients table")
        as_of = landmarks["as_of_session"].to_numpy(dtype=np.int64)
        prior = clients["prior_treatment"].astype("boolean").astype("float64").to_numpy()
        return cls._cut(
            client_id=client_ids.to_numpy(dtype=object)[pick],
            as_of_session=as_of,
            age=clients["age"].to_numpy(dtype=float)[pick],
            gender=clients["gender"].to_numpy(dtype=object)[pick],
            primary_concern=clients["primary_concern"].to_numpy(dtype=object)[pick],
            prior_treatment=prior[pick],
            session_day=session_day[pick],
            attended=attended[pick],
            measures=measures[pick],
            self_harm_item=self_harm_item[pick],
        )

    @classmethod
    def from_records(
        cls,
        client: Mapping[str, object],
        sessions: Iterable[Mapping[str, object]],
        *,
        as_of_session: int,
        window: int,
    ) -> HistoryBatch:
        """One client's history through ``as_of_session``, from plain mappings.

        Args:
            client: the client row (contract field names; ``intake_date`` a ``date``).
            sessions: its session rows (contract field names; ``session_date`` a ``date``).
            as_of_session: the landmark k (1..window).
            window: number of session slots.
        """
        return cls.from_each_record([(client, sessions, as_of_session)], window=window)

    @classmethod
    def from_each_record(
        cls,
        histories: Sequence[tuple[Mapping[str, object], Iterable[Mapping[str, object]], int]],
        *,
        window: int,
    ) -> HistoryBatch:
        """Several clients' histories, one row each, as :meth:`from_records` builds one.

        Args:
            histories: (client row, session rows, landmark k) of each history.
            window: number of session slots.
        """
        if not histories:
            raise ValueError("from_each_record needs at least one history")
        n = len(histories)
        session_day = np.full((n, window), np.nan)
        attended = np.full((n, window), np.nan)
        measures = np.full((n, window, len(MEASURE_COLUMNS)), np.nan)
        self_harm_item = np.full((n, window), np.nan)
        for row, (client, sessions, _) in enumerate(histories):
            intake: date = client["intake_date"]  # type: ignore[assignment]
            for session in sessions:
                slot = int(session["session_number"]) - 1  # type: ignore[arg-type]
                if not 0 <= slot < window:
                    continue
                days = (session["session_date"] - intake).days  # type: ignore[operator]
                session_day[row, slot] = days
                attended[row, slot] = float(bool(session["attended"]))
                for m, column in enumerate(MEASURE_COLUMNS):
                    value = session.get(column)
                    if value is not None:
                        measures[row, slot, m] = float(value)  # type: ignore[arg-type]
                item = session.get(SELF_HARM_ITEM)
                if item is not None:
                    self_harm_item[row, slot] = float(item)  # type: ignore[arg-type]
        clients = [client for client, _, _ in histories]
        priors = [client.get("prior_treatment") for client in clients]
        return cls._cut(
            client_id=np.array([client["client_id"] for client in clients], dtype=object),
            as_of_session=np.array([k for _, _, k in histories], dtype=np.int64),
            age=np.array([float(client["age"]) for client in clients]),  # type: ignore[arg-type]
            gender=np.array([client["gender"] for client in clients], dtype=object),
            primary_concern=np.array(
                [client["primary_concern"] for client in clients], dtype=object
            ),
            prior_treatment=np.array([np.nan if p is None else float(bool(p)) for p in priors]),
            session_day=session_day,
            attended=attended,
            measures=measures,
            self_harm_item=self_harm_item,
        )

    @classmethod
    def concat(cls, batches: Sequence[HistoryBatch]) -> HistoryBatch:
        """One batch holding the histories of ``batches`` in order (same window)."""
        if not batches:
            raise ValueError("concat needs at least one batch")
        arrays = [batch._arrays() for batch in batches]
        return cls(**{name: np.concatenate([a[name] for a in arrays]) for name in arrays[0]})

    @classmethod
    def _cut(cls, **arrays: np.ndarray) -> HistoryBatch:
        """Blank every session slot after each history's landmark: nothing from after k."""
        as_of = arrays["as_of_session"]
        window = arrays["attended"].shape[1]
        if ((as_of < 1) | (as_of > window)).any():
            raise ValueError(f"as_of_session must be between 1 and {window}")
        after = np.arange(1, window + 1)[None, :] > as_of[:, None]
        for name in ("session_day", "attended", "self_harm_item"):
            arrays[name] = np.where(after, np.nan, arrays[name])
        arrays["measures"] = np.where(after[:, :, None], np.nan, arrays["measures"])
        return cls(**arrays)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return False
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))
