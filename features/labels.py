"""The dropout and poor_outcome labels, exactly as the data contract defines them (revision 2).

* ``dropout``: ``termination == "dropout"``; ``referred`` and ``ongoing`` episodes carry no
  label.
* ``poor_outcome``: the episode ended (``completed`` or ``dropout``) and the client did not
  reach *reliable recovery*, judged from the first to the last available score of the
  outcome measure, chosen in the order of :data:`features.instruments.OUTCOME_MEASURE_ORDER`:
  PHQ-9 and GAD-7 together (NHS Talking Therapies), else OQ-45.2, else ORS. A measure with
  fewer than two scores takes no part; an episode with fewer than two scores on every
  outcome measure has no label.

  - A client whose first scores were in the clinical range has a poor outcome unless
    reliably recovered: reliable improvement (a fall by the reliable change on at least
    one measure and a rise by as much on none) and last scores below the clinical range on
    every measure.
  - A client whose first scores were below the clinical range has a poor outcome when
    reliably deteriorated (a rise by the reliable change on any measure).

The cut-offs and reliable change values come from :mod:`features.instruments`; "rises"
and "falls" are in the instrument's own direction (ORS: higher is better).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.instruments import (
    INSTRUMENTS,
    MEASURE_COLUMNS,
    OUTCOME_MEASURE_ORDER,
    SYMPTOM_MEASURES,
)
from features.vocabulary import LABELLED_TERMINATIONS

LABEL_COLUMNS = ("dropout", "poor_outcome", "outcome_measure")
#: The revision of the data contract's labels that this module derives.
LABEL_REVISION = 2
#: What :func:`outcome_course` reports per episode.
COURSE_COLUMNS = (
    "outcome_measure",
    "clinical_start",
    "clinical_end",
    "reliably_improved",
    "reliably_deteriorated",
)


def derive_labels(clients: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Labels for every episode of a contract-valid extract.

    Args:
        clients: the clients table (contract columns).
        sessions: the sessions table (contract columns).

    Returns:
        A frame indexed by ``client_id`` with ``dropout`` and ``poor_outcome`` (nullable
        booleans, missing where the contract gives no label), ``outcome_measure``
        (``"phq9+gad7"``, ``"oq45"``, ``"ors"``, or missing) and ``clinical_start``
        (whether the label asks for recovery, True, or for no deterioration, False).
    """
    termination = clients.set_index("client_id")["termination"]
    ended = termination.isin(LABELLED_TERMINATIONS)
    dropout = (termination == "dropout").astype("boolean").where(ended, pd.NA)
    course = outcome_course(sessions, index=termination.index)
    poor_outcome = poor_outcome_of(course).where(ended, pd.NA).astype("boolean")
    return pd.DataFrame(
        {
            "dropout": dropout,
            "poor_outcome": poor_outcome,
            "outcome_measure": course["outcome_measure"].where(ended, pd.NA),
            "clinical_start": course["clinical_start"].where(ended, pd.NA),
        }
    )


def poor_outcome_of(course: pd.DataFrame) -> pd.Series:
    """The poor_outcome rule on :func:`outcome_course` (missing where no measure applies)."""
    recovered = course["reliably_improved"] & ~course["clinical_end"]
    poor = (~recovered).where(course["clinical_start"], course["reliably_deteriorated"])
    return poor.where(course["outcome_measure"].notna(), pd.NA).astype("boolean")


def outcome_course(sessions: pd.DataFrame, *, index: pd.Index) -> pd.DataFrame:
    """Per episode, the outcome measure's course from its first to its last score.

    Returns:
        A frame indexed like ``index`` with :data:`COURSE_COLUMNS`: the measure used (or
        missing), whether the first and the last scores were in the clinical range, and
        whether the change was a reliable improvement or a reliable deterioration (all
        nullable booleans, missing where no measure has two scores).
    """
    first, last, count = _first_last_count(sessions, index=index)
    course = pd.DataFrame(
        {
            "outcome_measure": pd.Series(pd.NA, index=index, dtype="string"),
            **{
                name: pd.Series(pd.NA, index=index, dtype="boolean") for name in COURSE_COLUMNS[1:]
            },
        }
    )
    for measures in OUTCOME_MEASURE_ORDER:
        usable = count[list(measures)].ge(2)
        applies = (usable.any(axis=1) & course["outcome_measure"].isna()).to_numpy()
        if not applies.any():
            continue
        judged = _judge(first, last, usable, measures)
        for name, values in judged.items():
            course.loc[applies, name] = values[applies]
        course.loc[applies, "outcome_measure"] = "+".join(measures)
    return course


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


def _judge(
    first: pd.DataFrame, last: pd.DataFrame, usable: pd.DataFrame, measures: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Clinical range at the start and end, reliable improvement and deterioration.

    Only usable measures (two or more scores) take part; on several measures (PHQ-9 and
    GAD-7) the start is clinical when any is in the clinical range, the end is below it only
    when every one is, and improvement is reliable on one with reliable worsening on none.
    """
    n = len(first)
    clinical_start, clinical_end = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    better, worse = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    for measure in measures:
        instrument = INSTRUMENTS[measure]
        start = first[measure].to_numpy(dtype=float)
        end = last[measure].to_numpy(dtype=float)
        take = usable[measure].to_numpy(dtype=bool)
        change = instrument.improvement(start, end)
        clinical_start |= take & instrument.in_concern_range(start)
        clinical_end |= take & instrument.in_concern_range(end)
        better |= take & (change >= instrument.reliable_change)
        worse |= take & (change <= -instrument.reliable_change)
    return {
        "clinical_start": clinical_start,
        "clinical_end": clinical_end,
        "reliably_improved": better & ~worse,
        "reliably_deteriorated": worse,
    }


def start_in_clinical_range(history) -> np.ndarray:
    """Per history, whether its first outcome scores were in the clinical range so far.

    The measure is chosen as the label chooses it (PHQ-9 and GAD-7, else OQ-45.2, else
    ORS), from the scores recorded up to the landmark: 1.0 (clinical, so the poor outcome is
    no reliable recovery), 0.0 (below it, so the poor outcome is reliable deterioration), or
    NaN when no outcome measure has been recorded yet.

    Args:
        history: a :class:`features.history.HistoryBatch`.
    """
    result = np.full(len(history), np.nan)
    for measures in OUTCOME_MEASURE_ORDER:
        clinical = np.zeros(len(history), dtype=bool)
        any_seen = np.zeros(len(history), dtype=bool)
        for measure in measures:
            scores = history.measures[:, :, MEASURE_COLUMNS.index(measure)]
            seen = ~np.isnan(scores)
            first = scores[np.arange(len(scores)), np.argmax(seen, axis=1)]
            has = seen.any(axis=1)
            clinical |= has & INSTRUMENTS[measure].in_concern_range(first)
            any_seen |= has
        undecided = np.isnan(result) & any_seen
        result[undecided] = clinical[undecided]
    return result
