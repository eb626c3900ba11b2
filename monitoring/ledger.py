"""The assessments a monitoring report covers, kept between reports without their bodies.

A report reads, of each stored assessment, its version, time, client, scores and feature
row, and of each client its latest assessment (for the realised labels). Stored bodies are
large and decoding them dominates a report's cost, so :class:`AssessmentLedger` featurises
each record once, keeps only what the report reads, and holds the full record of each
client's latest assessment alone. A periodic check (the service's) keeps one ledger and adds
only the records stored since its last check: :meth:`AssessmentLedger.keep_only` drops what
has left the period or been erased, and :meth:`AssessmentLedger.wanted` names the records to
read next.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice
from typing import Any

import numpy as np

from features.engineering import compute_features
from features.history import HistoryBatch
from features.vocabulary import OUTCOMES
from monitoring.records import StoredAssessment

_FEATURISED_AT_ONCE = 1_000
"""Records featurised in one call: per-call costs shared, their decoded bodies bounded."""


@dataclass(frozen=True, slots=True)
class MonitoredAssessment:
    """What a monitoring report reads of one stored assessment.

    Attributes:
        assessment_id: Its id.
        created_at: When it was stored.
        model_version: The version that scored it.
        client_id: Its client (clinic-qualified when the records were).
        sessions: The sessions its request held (how complete a view of the episode).
        probability: The probability of each outcome of :data:`OUTCOMES`, in that order.
        risk_level: The risk level of each outcome, in the same order.
        features: The feature row of its history (as the model saw it).
    """

    assessment_id: str
    created_at: datetime
    model_version: str
    client_id: str
    sessions: int
    probability: tuple[float, ...]
    risk_level: tuple[str, ...]
    features: np.ndarray

    @property
    def view_order(self) -> tuple[int, datetime, str]:
        """A client's latest view is the one with the most sessions, then the newest, then
        (a tie to the microsecond) the greatest id."""
        return (self.sessions, self.created_at, self.assessment_id)


class AssessmentLedger:
    """Monitored assessments by id, and each client's latest assessment in full."""

    def __init__(self) -> None:
        self._entries: dict[str, MonitoredAssessment] = {}
        self._latest: dict[str, StoredAssessment] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, records: Iterable[StoredAssessment]) -> None:
        """Featurise and keep the records not yet kept; note each client's latest view.

        A record already kept only counts for its client's latest view (that is how a
        latest record dropped by :meth:`keep_only` is read again).

        Raises:
            ValueError: A stored record cannot be read (named by its id). The records of
                its chunk are not kept, so a later call that skips it keeps every other.
        """
        iterator = iter(records)
        while chunk := list(islice(iterator, _FEATURISED_AT_ONCE)):
            new = [record for record in chunk if record.assessment_id not in self._entries]
            # The whole chunk is read before any of it is kept: a record that cannot be
            # read leaves the ledger as it was, not with entries whose latest view is unset.
            entries = _monitored_each(new) if new else []
            for entry in entries:
                self._entries[entry.assessment_id] = entry
            for record in chunk:
                self._note_latest(record)

    def keep_only(self, assessment_ids: Collection[str]) -> None:
        """Forget every entry whose id is not in ``assessment_ids`` (out of the period, or
        erased); a client whose latest record goes is re-read through :meth:`wanted`."""
        for gone in [key for key in self._entries if key not in assessment_ids]:
            del self._entries[gone]
        for client, record in list(self._latest.items()):
            if record.assessment_id not in self._entries:
                del self._latest[client]

    def wanted(self, assessment_ids: Collection[str]) -> list[str]:
        """The records to read next: those of ``assessment_ids`` not kept yet, and the
        latest kept entry of each client whose latest record was forgotten."""
        missing = [key for key in assessment_ids if key not in self._entries]
        best: dict[str, MonitoredAssessment] = {}
        for entry in self._entries.values():
            client = entry.client_id
            if client in self._latest:
                continue
            if client not in best or entry.view_order > best[client].view_order:
                best[client] = entry
        return missing + [entry.assessment_id for entry in best.values()]

    def entries(self) -> list[MonitoredAssessment]:
        """Every entry, oldest first (ties by id), as the audit store streams them."""
        return sorted(self._entries.values(), key=lambda e: (e.created_at, e.assessment_id))

    def latest(self) -> list[StoredAssessment]:
        """Each client's latest assessment: its most complete view of the episode."""
        return list(self._latest.values())

    def _note_latest(self, record: StoredAssessment) -> None:
        if record.assessment_id not in self._entries:
            return
        known = self._latest.get(record.client_id)
        order = self._entries[record.assessment_id].view_order
        if known is None or order >= self._entries[known.assessment_id].view_order:
            # The response is not needed for labels; dropping it halves what is held.
            self._latest[record.client_id] = dataclasses.replace(record, response={})


def _monitored_each(records: list[StoredAssessment]) -> list[MonitoredAssessment]:
    """The entries of ``records``, featurised in one call."""
    histories, scores = [], []
    for record in records:
        try:
            histories.append(_history(record))
            scores.append(_scores(record.response))
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"stored assessment {record.assessment_id} cannot be read for monitoring: "
                f"{type(error).__name__}: {error}"
            ) from error
    # Every history in the widest window of the chunk: from_records blanks the slots after
    # each landmark, so one window serves all (as scoring does).
    window = max(record.as_of_session for record in records)
    features = compute_features(HistoryBatch.from_each_record(histories, window=window))
    return [
        MonitoredAssessment(
            assessment_id=record.assessment_id,
            created_at=record.created_at,
            model_version=record.model_version,
            client_id=record.client_id,
            sessions=len(record.request.get("sessions", [])),
            probability=probability,
            risk_level=risk_level,
            # Copied out of the chunk's matrix, so that forgetting an entry frees it.
            features=row.copy(),
        )
        for record, (probability, risk_level), row in zip(records, scores, features, strict=True)
    ]


def _scores(response: dict[str, Any]) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """Each outcome's probability and risk level, refused when missing or of the wrong type."""
    probability, risk_level = [], []
    for outcome in OUTCOMES:
        value, level = response[outcome]["probability"], response[outcome]["risk_level"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{outcome}.probability is {value!r}, not a number")
        if not isinstance(level, str):
            raise TypeError(f"{outcome}.risk_level is {level!r}, not a level")
        probability.append(float(value))
        risk_level.append(level)
    return tuple(probability), tuple(risk_level)


def _history(record: StoredAssessment) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """The client row, session rows and landmark of a stored request."""
    request = record.request
    client = {**request["client"], "intake_date": _day(request["client"]["intake_date"])}
    sessions = [{**s, "session_date": _day(s["session_date"])} for s in request["sessions"]]
    return client, sessions, record.as_of_session


def _day(value: str | date) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
