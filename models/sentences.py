"""Plain words for what the measures show, per clinical concept.

:func:`describe` turns one client's values into a short statement ("Client-rated alliance
fell from 4.1 to 3.2 at session 3") and the values behind it. The statement names what was
seen, never a feature name; the explanation adds how much it moves the estimate.
"""

from __future__ import annotations

import numpy as np

from features.engineering import FEATURE_INDEX, FEATURES
from features.history import HistoryBatch
from features.instruments import INSTRUMENTS, MEASURE_COLUMNS
from features.recovery import expected_score

_MEASURE_OF_FEATURE = {f.name: f.measure for f in FEATURES}


def describe(
    concept: str, leading_feature: str, row: np.ndarray, history: HistoryBatch
) -> tuple[str, str]:
    """``(statement, values)`` for ``concept`` of one client.

    Args:
        concept: concept key of :data:`features.engineering.CONCEPTS`.
        leading_feature: the feature of the concept with the largest contribution; it picks
            the measure to talk about when a concept spans several.
        row: the client's feature vector.
        history: the client's history (a batch of one).
    """
    measure = _MEASURE_OF_FEATURE.get(leading_feature)
    if concept in ("client_alliance", "therapist_alliance", "session_feedback"):
        return _alliance(measure or "srs", history)
    if concept == "symptom_level":
        return _symptom_level(measure or "phq9", history)
    if concept == "symptom_change":
        if measure is None:
            measure = _most_off_track(row)
        return _symptom_change(measure, history)
    if concept == "alliance_agreement":
        gap = _value(row, "alliance_client_minus_therapist")
        side = "higher" if gap >= 0 else "lower"
        return (
            f"Client rates the alliance {abs(gap):.1f} points {side} than the therapist",
            f"client minus therapist WAI-SR {gap:+.1f}",
        )
    if concept == "attendance":
        return _attendance(leading_feature, row, history)
    if concept == "treatment_stage":
        k = int(history.as_of_session[0])
        return f"Estimate made at session {k}", f"session {k}"
    if concept == "presenting_concern":
        concern = str(history.primary_concern[0])
        return f"Presenting concern: {concern}", concern
    return _demographics(leading_feature, history)


def _value(row: np.ndarray, name: str) -> float:
    return float(row[FEATURE_INDEX[name]])


def _scores(measure: str, history: HistoryBatch) -> tuple[np.ndarray, np.ndarray]:
    """Recorded scores of ``measure`` and their session numbers."""
    values = history.measures[0, :, MEASURE_COLUMNS.index(measure)]
    sessions = np.flatnonzero(~np.isnan(values)) + 1
    return values[sessions - 1], sessions


def _fmt(measure: str, value: float) -> str:
    return f"{value:.0f}" if INSTRUMENTS[measure].integer else f"{value:.1f}"


def _alliance(measure: str, history: HistoryBatch) -> tuple[str, str]:
    instrument = INSTRUMENTS[measure]
    scores, sessions = _scores(measure, history)
    name = instrument.label
    if len(scores) == 0:
        return f"{name} not recorded", "not recorded"
    latest = _fmt(measure, scores[-1])
    if len(scores) == 1:
        return f"{name} is {latest} at session {sessions[-1]}", latest
    previous = _fmt(measure, scores[-2])
    change = scores[-1] - scores[-2]
    values = f"{previous} -> {latest} (session {sessions[-2]} to {sessions[-1]})"
    if instrument.rupture_drop is not None and -change >= instrument.rupture_drop:
        return f"{name} fell from {previous} to {latest} at session {sessions[-1]}", values
    if instrument.rupture_drop is not None and change >= instrument.rupture_drop:
        return f"{name} rose from {previous} to {latest} at session {sessions[-1]}", values
    first = _fmt(measure, scores[0])
    cutoff = instrument.clinical_cutoff
    where = ""
    if cutoff is not None:
        where = f", {'below' if scores[-1] < cutoff else 'at or above'} the {cutoff:g} cut-off"
    return f"{name} is {latest} at session {sessions[-1]} (first {first}){where}", values


def _symptom_level(measure: str, history: HistoryBatch) -> tuple[str, str]:
    instrument = INSTRUMENTS[measure]
    scores, sessions = _scores(measure, history)
    if len(scores) == 0:
        return f"{instrument.label} not recorded", "not recorded"
    latest = _fmt(measure, scores[-1])
    side = "clinical" if instrument.in_concern_range(scores[-1]) else "non-clinical"
    return (
        f"{instrument.label} is {latest} at session {sessions[-1]} ({side} range, cut-off "
        f"{instrument.clinical_cutoff:g})",
        latest,
    )


def _most_off_track(row: np.ndarray) -> str:
    candidates = [
        (_value(row, f"{m}_off_track"), m)
        for m, i in INSTRUMENTS.items()
        if i.kind == "symptom" and not np.isnan(_value(row, f"{m}_off_track"))
    ]
    return max(candidates)[1] if candidates else "phq9"


def _symptom_change(measure: str, history: HistoryBatch) -> tuple[str, str]:
    instrument = INSTRUMENTS[measure]
    scores, sessions = _scores(measure, history)
    if len(scores) < 2:
        return f"Only one {instrument.label} score so far: change cannot be judged yet", "1 score"
    first, latest = _fmt(measure, scores[0]), _fmt(measure, scores[-1])
    expected = float(
        expected_score(
            measure, intake_score=scores[0], sessions_since_intake=sessions[-1] - sessions[0]
        )
    )
    verb = "improved" if instrument.improvement(scores[0], scores[-1]) > 0 else "did not improve"
    if instrument.improvement(scores[0], scores[-1]) <= -instrument.reliable_change:
        verb = "worsened"
    return (
        f"{instrument.label} {verb}: {first} at session {sessions[0]}, {latest} at session "
        f"{sessions[-1]} (expected about {_fmt(measure, round(expected))} by now)",
        f"{first} -> {latest}; expected {expected:.1f}",
    )


def _attendance(leading_feature: str, row: np.ndarray, history: HistoryBatch) -> tuple[str, str]:
    k = int(history.as_of_session[0])
    missed = int(_value(row, "missed_sessions"))
    if leading_feature == "days_since_previous_session" and k >= 2:
        days = _value(row, "days_since_previous_session")
        return f"{days:.0f} days since the previous appointment", f"{days:.0f} days"
    if leading_feature in ("days_since_intake", "mean_days_between_sessions") and k >= 2:
        mean_gap = _value(row, "mean_days_between_sessions")
        return (
            f"Appointments about every {mean_gap:.0f} days since intake",
            f"{mean_gap:.0f} days apart",
        )
    if missed == 0:
        return f"Attended all {k} appointments so far", f"0 of {k} missed"
    latest = _value(row, "latest_missed") == 1
    missed_list = [str(s + 1) for s in np.flatnonzero(history.attended[0] == 0)]
    where = f"session {', '.join(missed_list)}"
    if latest and missed == 1:
        return f"Missed the latest appointment (session {k})", f"1 of {k} missed"
    return (
        f"Missed {missed} of {k} appointments ({where})"
        + (", including the latest" if latest else ""),
        f"{missed} of {k} missed",
    )


def _demographics(leading_feature: str, history: HistoryBatch) -> tuple[str, str]:
    if leading_feature == "prior_treatment":
        prior = history.prior_treatment[0]
        text = "not recorded" if np.isnan(prior) else ("yes" if prior == 1 else "no")
        return f"Previous treatment: {text}", text
    if leading_feature.startswith("gender_"):
        gender = str(history.gender[0])
        return f"Gender: {gender}", gender
    age = int(history.age[0])
    return f"Age {age}", str(age)
