"""The extract as a data scientist sees it, as dense (clients, session number) arrays.

Labels come from :func:`features.labels.derive_labels`, exactly as the contract defines
them; nothing here reads the simulator's latent truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.instruments import INSTRUMENTS, MEASURE_COLUMNS
from features.labels import derive_labels, outcome_course
from training.synth.targets.statistics import first_valid, last_valid, standardised

if TYPE_CHECKING:
    from training.synth.tables import Cohort

__all__ = ["Extract"]

#: Client-rated alliance measures; a clinic records at most one of them.
_CLIENT_ALLIANCE = ("wai_client", "srs")
#: The single measure that stands for each branch of the poor-outcome rule.
_SINGLE_OUTCOME = {"oq45": "oq45", "ors": "ors", "phq9+gad7": "phq9"}


@dataclass(frozen=True)
class Extract:
    """Clients, labels and sessions as (n_clients, width) arrays by session number.

    Attributes:
        clients: the clients table, in cohort order.
        labels: the contract labels of each client, in the same order.
        course: the outcome measure's course per client (:func:`features.labels.outcome_course`:
            clinical start and end, reliable improvement and deterioration), same order.
        booked: whether the appointment exists.
        attended: whether it was attended.
        scores: per measure, the recorded score; NaN where not recorded.
    """

    clients: pd.DataFrame
    labels: pd.DataFrame
    course: pd.DataFrame
    booked: np.ndarray
    attended: np.ndarray
    scores: dict[str, np.ndarray]

    @classmethod
    def build(cls, cohort: Cohort) -> Extract:
        """The dense extract of a cohort's clients and sessions tables."""
        clients = cohort.clients.reset_index(drop=True)
        sessions = cohort.sessions
        row = pd.Index(clients["client_id"]).get_indexer(sessions["client_id"])
        slot = sessions["session_number"].to_numpy(dtype=np.int64) - 1
        shape = (len(clients), int(slot.max()) + 1)
        booked = np.zeros(shape, dtype=bool)
        booked[row, slot] = True
        attended = np.zeros(shape, dtype=bool)
        attended[row, slot] = sessions["attended"].to_numpy(dtype=bool)
        scores = {}
        for column in MEASURE_COLUMNS:
            dense = np.full(shape, np.nan)
            dense[row, slot] = sessions[column].to_numpy(dtype=float, na_value=np.nan)
            scores[column] = dense
        labels = derive_labels(cohort.clients, sessions).reindex(clients["client_id"])
        course = outcome_course(sessions, index=pd.Index(clients["client_id"]))
        return cls(
            clients,
            labels.reset_index(drop=True),
            course.reset_index(drop=True),
            booked,
            attended,
            scores,
        )

    @property
    def dropout(self) -> np.ndarray:
        """1.0 dropout, 0.0 completed, NaN without a label."""
        return self.labels["dropout"].to_numpy(dtype=float, na_value=np.nan)

    @property
    def poor_outcome(self) -> np.ndarray:
        """1.0 poor outcome, 0.0 not (contract revision 2), NaN without a label."""
        return self.labels["poor_outcome"].to_numpy(dtype=float, na_value=np.nan)

    @property
    def completed(self) -> np.ndarray:
        """Whether each episode ended as planned."""
        return (self.clients["termination"] == "completed").to_numpy(dtype=bool)

    def course_flag(self, name: str) -> np.ndarray:
        """A boolean column of :attr:`course` (False where no outcome measure applies)."""
        return self.course[name].fillna(False).to_numpy(dtype=bool)

    def last_attended(self) -> np.ndarray:
        """Session number of the last attended appointment (0 if none)."""
        width = self.attended.shape[1]
        return np.where(
            self.attended.any(axis=1), width - np.argmax(self.attended[:, ::-1], axis=1), 0
        )

    def first_last(self, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each client's first and last score of ``column``, and how many it has."""
        values = self.scores[column]
        return first_valid(values), last_valid(values), np.sum(~np.isnan(values), axis=1)

    def client_alliance(self) -> np.ndarray:
        """Client-rated alliance per session, standardised per instrument (WAI-SR or SRS)."""
        combined = np.full(self.booked.shape, np.nan)
        for column in _CLIENT_ALLIANCE:
            z = standardised(self.scores[column])
            combined = np.where(np.isnan(combined), z, combined)
        return combined

    def outcome_series(self) -> tuple[np.ndarray, np.ndarray]:
        """Per client the scores of its single primary outcome measure, in RCI units of
        improvement from its first score, and that measure's name (PHQ-9 for the NHS TT
        branch, falling back to GAD-7)."""
        measure = self.labels["outcome_measure"].fillna("").astype(object).to_numpy()
        width = self.booked.shape[1]
        improvement = np.full((len(measure), width), np.nan)
        name = np.full(len(measure), "", dtype=object)
        for branch, column in _SINGLE_OUTCOME.items():
            chosen = measure == branch
            if branch == "phq9+gad7":
                has_phq = np.sum(~np.isnan(self.scores["phq9"]), axis=1) >= 2
                for col, take in (("phq9", chosen & has_phq), ("gad7", chosen & ~has_phq)):
                    improvement[take] = _rci_improvement(self.scores[col][take], column=col)
                    name[take] = col
            else:
                improvement[chosen] = _rci_improvement(self.scores[column][chosen], column=column)
                name[chosen] = column
        return improvement, name


def _rci_improvement(values: np.ndarray, *, column: str) -> np.ndarray:
    """Improvement since the first score, in units of the instrument's reliable change."""
    instrument = INSTRUMENTS[column]
    change = instrument.improvement(first_valid(values)[:, None], values)
    return change / instrument.reliable_change
