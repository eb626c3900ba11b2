"""The dropout and poor_outcome labels, exactly as the data contract defines them.

* ``dropout``: ``termination == "dropout"``; ``referred`` and ``ongoing`` episodes carry no
  label.
* ``poor_outcome``: the episode ended (``completed`` or ``dropout``) and the client did not
  show reliable improvement from the first to the last available score of the outcome
  measure, chosen in the order of :data:`features.instruments.OUTCOME_MEASURE_ORDER`:
  PHQ-9 and GAD-7 together (NHS Talking Therapies: PHQ-9 falls by its reliable change or
  GAD-7 falls by its reliable change, and neither rises by that much), else OQ-45.2, else
  ORS. A measure with fewer than two scores takes no part; an episode with fewer than two
  scores on every outcome measure has no label.

The reliable change values come from :mod:`features.instruments`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.instruments import INSTRUMENTS, OUTCOME_MEASURE_ORDER, SYMPTOM_MEASURES
from features.vocabulary import LABELLED_TERMINATIONS

LABEL_COLUMNS = ("dropout", "poor_outcome", "outcome_measure")


def derive_labels(clients: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Labels for every episode of a contract-valid extract.

    Args:
        clients: the clients table (contract columns).
        sessions: the sessions table (contract columns).

    Returns:
        A frame indexed by ``client_id`` with ``dropout`` and ``poor_outcome`` (nullable
        booleans, missing where the contract gives no label) and ``outcome_measure``
        (``"phq9+gad7"``, ``"oq45"``, ``"ors"``, or missing).
    """
    termination = clients.set_index("client_id")["termination"]
    ended = termination.isin(LABELLED_TERMINATIONS)
    dropout = (termination == "dropout").astype("boolean").where(ended, pd.NA)

    first, last, count = _first_last_count(sessions, index=termination.index)
    improved = pd.Series(pd.NA, index=termination.index, dtype="boolean")
    measure_used = pd.Series(pd.NA, index=termination.index, dtype="string")
    for measures in OUTCOME_MEASURE_ORDER:
        usable = count[list(measures)].ge(2)
        applies = usable.any(axis=1) & measure_used.isna()
        if not applies.any():
            continue
        improved[applies] = _reliably_improved(first, last, usable, measures)[applies]
        measure_used[applies] = "+".join(measures)

    poor_outcome = (~improved).where(ended & improved.notna(), pd.NA).astype("boolean")
    measure_used = measure_used.where(ended, pd.NA)
    return pd.DataFrame(
        {"dropout": dropout, "poor_outcome": poor_outcome, "outcome_measure": measure_used}
    )


def _first_last_count(
    sessions: pd.DataFrame, *, index: pd.Index
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """First and last non-missing score and the number of scores per client and measure."""
    ordered = sessions.sort_values(["client_id", "session_number"], kind="stable")
    scores = ordered[["client_id", *SYMPTOM_MEASURES]].astype(
        dict.fromkeys(SYMPTOM_MEASURES, "float64")
    )
    grouped = scores.groupby("client_id", sort=False)
    # groupby first/last skip missing values: exactly "first and last non-null value".
    first = grouped.first().reindex(index)
    last = grouped.last().reindex(index)
    count = grouped.count().reindex(index, fill_value=0)
    return first, last, count


def _reliably_improved(
    first: pd.DataFrame, last: pd.DataFrame, usable: pd.DataFrame, measures: tuple[str, ...]
) -> pd.Series:
    """Reliable improvement on at least one usable measure and reliable worsening on none."""
    better = np.zeros(len(first), dtype=bool)
    worse = np.zeros(len(first), dtype=bool)
    for measure in measures:
        instrument = INSTRUMENTS[measure]
        change = instrument.improvement(first[measure], last[measure]).to_numpy(dtype=float)
        take = usable[measure].to_numpy(dtype=bool)
        better |= take & (change >= instrument.reliable_change)
        worse |= take & (change <= -instrument.reliable_change)
    return pd.Series(better & ~worse, index=first.index, dtype="boolean")
