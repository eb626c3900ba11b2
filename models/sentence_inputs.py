"""What the factor sentences read, read once: one client's history, and the reference profile.

An answer's factors describe up to ten concepts of one client, and most descriptions read
the same few recorded scores. Reading them from numpy one element at a time, for every
concept, cost more than writing the sentences. So :class:`ClientHistory` turns one client's
history into plain Python values once, and :class:`ReferenceProfile` prepares the training
population's score profile (bundle metadata ``reference``) once for a whole batch.
Both give exactly the values the numpy reads gave, so the sentences do not change.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping

import numpy as np

from features.history import HistoryBatch
from features.instruments import MEASURE_COLUMNS

_COLUMN = {measure: j for j, measure in enumerate(MEASURE_COLUMNS)}
#: A measure's prepared bins: edges, share below each bin, half of each bin, recorded total.
_Bins = tuple[list[float], list[float], list[float], float]


class ClientHistory:
    """One client's history (one row of a :class:`HistoryBatch`) as plain Python values.

    Built for a whole batch at once by :meth:`each`, which reads every array with one numpy
    call; a client's scores are turned into Python lists when first asked for.

    Attributes:
        as_of_session: the landmark k.
        age: age in years, as recorded.
        gender: the contract gender category.
        primary_concern: the contract concern category.
        prior_treatment: 1.0, 0.0 or NaN when not recorded.
    """

    __slots__ = (
        "_attended",
        "_by_measure",
        "_measures",
        "_recorded",
        "_scores",
        "age",
        "as_of_session",
        "gender",
        "primary_concern",
        "prior_treatment",
    )

    def __init__(
        self,
        *,
        as_of_session: int,
        age: float,
        gender: str,
        primary_concern: str,
        prior_treatment: float,
        attended: list[float],
        measures: np.ndarray,
        recorded: list[str],
    ) -> None:
        """One client's values; ``measures`` is (measures, sessions), in contract order, and
        ``recorded`` the measures with any recorded score."""
        self.as_of_session = as_of_session
        self.age = age
        self.gender = gender
        self.primary_concern = primary_concern
        self.prior_treatment = prior_treatment
        self._attended = attended
        self._measures = measures
        self._recorded = recorded
        self._by_measure: list[list[float]] | None = None
        self._scores: dict[str, tuple[list[float], list[int]]] = {}

    @classmethod
    def each(cls, history: HistoryBatch) -> list[ClientHistory]:
        """Every client of ``history``, in order."""
        by_measure = history.measures.transpose(0, 2, 1)  # (clients, measures, sessions)
        ever = (~np.isnan(by_measure)).any(axis=2).tolist()
        return [
            cls(
                as_of_session=int(k),
                age=age,
                gender=str(gender),
                primary_concern=str(concern),
                prior_treatment=prior,
                attended=attended,
                measures=measures,
                recorded=[m for m, seen in zip(MEASURE_COLUMNS, seen_row, strict=True) if seen],
            )
            for k, age, gender, concern, prior, attended, measures, seen_row in zip(
                history.as_of_session.tolist(),
                history.age.tolist(),
                history.gender.tolist(),
                history.primary_concern.tolist(),
                history.prior_treatment.tolist(),
                history.attended.tolist(),
                by_measure,
                ever,
                strict=True,
            )
        ]

    def scores(self, measure: str) -> tuple[list[float], list[int]]:
        """The recorded scores of ``measure`` in session order, and their session numbers."""
        found = self._scores.get(measure)
        if found is None:
            if self._by_measure is None:
                self._by_measure = self._measures.tolist()
            slots = self._by_measure[_COLUMN[measure]]
            # A recorded score is not NaN (NaN != NaN).
            sessions = [session for session, value in enumerate(slots, start=1) if value == value]
            found = self._scores[measure] = ([slots[s - 1] for s in sessions], sessions)
        return found

    def recorded_measures(self) -> list[str]:
        """The measures with any recorded score, in contract order."""
        return self._recorded

    def missed_sessions(self) -> list[int]:
        """The numbers of the sessions missed so far."""
        return [session for session, came in enumerate(self._attended, start=1) if came == 0]


class ReferenceProfile:
    """Where a latest score stands among the clients a model learnt from.

    Built from bundle metadata ``reference`` (per feature, decile ``edges`` and the
    ``shares`` of the population in each bin, the last bin being "not recorded"); without
    one every standing is unknown. A measure's bins are prepared when first asked for; the
    threads scoring with one model share them (two filling the same entry fill it alike).
    """

    __slots__ = ("_features", "_prepared")

    def __init__(self, reference: Mapping[str, object] | None) -> None:
        """Profile of ``reference`` (None: no profile)."""
        features = (reference or {}).get("features", {})
        self._features: Mapping[str, Mapping[str, list[float]]] = features  # type: ignore[assignment]
        self._prepared: dict[str, _Bins | None] = {}

    def standing(self, measure: str, value: float) -> float | None:
        """Share of the population's latest ``measure`` scores below ``value`` (None if
        unknown); a value inside a bin counts half of that bin."""
        if measure not in self._prepared:
            self._prepared[measure] = self._prepare(measure)
        prepared = self._prepared[measure]
        if prepared is None:
            return None
        edges, below, halves, total = prepared
        index = bisect_right(edges, value)
        return float((below[index] + halves[index]) / total)

    def _prepare(self, measure: str) -> _Bins | None:
        """The bins' edges, the share below each bin, half of each bin's share, and the
        recorded total: summed by numpy, once, as a per-call sum summed them."""
        profile = self._features.get(f"{measure}_latest")
        if not profile or not profile.get("edges"):
            return None
        shares = np.asarray(profile["shares"][:-1], dtype=float)
        total = shares.sum()
        if total <= 0:
            return None
        below = [shares[:index].sum() for index in range(len(shares) + 1)]
        return list(profile["edges"]), below, list(shares / 2), total
