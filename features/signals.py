"""Clinical signals: the rule-based flags existing systems raise, reported beside the score.

Each signal is a plain rule on a client's history and feature vector, so training (as rule
baselines), batch scoring and the service compute them the same way. They are listed in
this order, safety first:

* ``self_harm_item_endorsed``: the latest answer to PHQ-9 item 9 (thoughts of being better
  off dead or of self-harm) is above 0. Measurement-based-care platforms flag it whatever
  else is going on (Blueprint, Modern Health, Total Brain; domain.md 1.4); so does this one,
  whatever the model estimates.
* ``severe_symptoms``: a latest score in the severe range (PHQ-9 >= 20, GAD-7 >= 15,
  OQ-45.2 >= 105, ORS <= 10; cut-offs and sources in :mod:`features.instruments`).
* ``reliable_deterioration``: worse from the first to the latest score by at least the
  instrument's reliable change (the data contract's values).
* ``alliance_rupture``: a session-to-session alliance fall of at least the instrument's
  rupture threshold that has not been repaired (Safran et al. 2011).
* ``srs_below_cutoff``: latest Session Rating Scale below 36 (PCOMS / OpenFIT).
* ``not_on_track``: a symptom score worse than the expected recovery curve by at least the
  reliable change value (OQ-Analyst style, :mod:`features.recovery`).
* ``missed_appointments``: the latest appointment missed, or two or more missed so far.
* ``alliance_rupture_repaired``: a rupture that has been repaired (good news, reported so
  that a clinician sees the repair).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.engineering import FEATURE_INDEX
from features.history import HistoryBatch
from features.instruments import (
    ALLIANCE_MEASURES,
    INSTRUMENTS,
    MEASURE_COLUMNS,
    SRS,
    SYMPTOM_MEASURES,
)

SIGNAL_CODES = (
    "self_harm_item_endorsed",
    "severe_symptoms",
    "reliable_deterioration",
    "alliance_rupture",
    "srs_below_cutoff",
    "not_on_track",
    "missed_appointments",
    "alliance_rupture_repaired",
)
#: Signals about the client's safety: first in every list, and the only ones that may ask
#: for the service's risk protocol (CDS Hooks ``critical``).
SAFETY_SIGNALS = ("self_harm_item_endorsed",)
#: Missed appointments that raise the signal even when the latest one was attended.
MISSED_APPOINTMENTS_FLAG = 2
#: The answers of PHQ-9 item 9 in the questionnaire's words (Kroenke et al. 2001).
ITEM_ANSWERS = ("not at all", "several days", "more than half the days", "nearly every day")


@dataclass(frozen=True, slots=True)
class Signal:
    """One raised signal: a stable code and a sentence for the clinician."""

    code: str
    text: str


def _column(features: np.ndarray, name: str) -> np.ndarray:
    return features[:, FEATURE_INDEX[name]]


def rule_flags(features: np.ndarray) -> dict[str, np.ndarray]:
    """The signals that the feature vector alone decides, as booleans per row."""
    unrepaired = np.zeros(len(features), dtype=bool)
    repaired = np.zeros(len(features), dtype=bool)
    for measure in ALLIANCE_MEASURES:
        unrepaired |= _column(features, f"{measure}_rupture_unrepaired") == 1
        repaired |= _column(features, f"{measure}_rupture_repaired") == 1
    with np.errstate(invalid="ignore"):
        return {
            "severe_symptoms": np.any([_severe(features, m) for m in SYMPTOM_MEASURES], axis=0),
            "reliable_deterioration": np.any(
                [_deteriorated(features, m) for m in SYMPTOM_MEASURES], axis=0
            ),
            "alliance_rupture": unrepaired,
            "srs_below_cutoff": _column(features, "srs_below_cutoff") == 1,
            "not_on_track": _column(features, "symptoms_off_track") >= 1.0,
            "missed_appointments": (_column(features, "latest_missed") == 1)
            | (_column(features, "missed_sessions") >= MISSED_APPOINTMENTS_FLAG),
            "alliance_rupture_repaired": repaired & ~unrepaired,
        }


def signal_flags(features: np.ndarray, history: HistoryBatch) -> dict[str, np.ndarray]:
    """Every signal as a boolean per row (a missing input raises nothing)."""
    item, _ = latest_self_harm_answer(history)
    with np.errstate(invalid="ignore"):
        return {"self_harm_item_endorsed": item > 0} | rule_flags(features)


def latest_self_harm_answer(history: HistoryBatch) -> tuple[np.ndarray, np.ndarray]:
    """Each history's latest PHQ-9 item 9 answer and its session number (NaN, 0: none)."""
    answers = history.self_harm_item
    seen = ~np.isnan(answers)
    last = answers.shape[1] - 1 - np.argmax(seen[:, ::-1], axis=1)
    value = answers[np.arange(len(answers)), last]
    any_seen = seen.any(axis=1)
    return np.where(any_seen, value, np.nan), np.where(any_seen, last + 1, 0)


def clinical_signals(features: np.ndarray, history: HistoryBatch) -> list[list[Signal]]:
    """The raised signals of each row, safety first, with sentences from its own values."""
    flags = signal_flags(features, history)
    rows = []
    for row in range(len(features)):
        raised = [code for code in SIGNAL_CODES if flags[code][row]]
        one = history.take([row]) if raised else None
        rows.append([Signal(code, _sentence(code, features[row], one)) for code in raised])
    return rows


def _severe(features: np.ndarray, measure: str) -> np.ndarray:
    instrument = INSTRUMENTS[measure]
    latest = _column(features, f"{measure}_latest")
    return ~np.isnan(latest) & instrument.in_severe_range(latest)


def _deteriorated(features: np.ndarray, measure: str) -> np.ndarray:
    improvement = _column(features, f"{measure}_improvement")
    return improvement <= -INSTRUMENTS[measure].reliable_change


def _value(row: np.ndarray, name: str) -> float:
    return float(row[FEATURE_INDEX[name]])


def _scores(measure: str, history: HistoryBatch) -> tuple[np.ndarray, np.ndarray]:
    values = history.measures[0, :, MEASURE_COLUMNS.index(measure)]
    sessions = np.flatnonzero(~np.isnan(values)) + 1
    return values[sessions - 1], sessions


def _fmt(measure: str, value: float) -> str:
    return f"{value:.0f}" if INSTRUMENTS[measure].integer else f"{value:g}"


def _sentence(code: str, row: np.ndarray, history: HistoryBatch) -> str:
    if code == "self_harm_item_endorsed":
        answer, session = (int(v[0]) for v in latest_self_harm_answer(history))
        return (
            f"PHQ-9 item 9 (thoughts of being better off dead or of hurting oneself) was "
            f'answered {answer}, "{ITEM_ANSWERS[answer]}", at session {session}: follow '
            "your service's risk protocol today. Any answer above 0 is flagged, whatever the "
            "model estimates."
        )
    if code == "severe_symptoms":
        parts = []
        for measure in SYMPTOM_MEASURES:
            instrument = INSTRUMENTS[measure]
            scores, sessions = _scores(measure, history)
            if len(scores) and instrument.in_severe_range(scores[-1]):
                side = "or below" if instrument.higher_is_better else "or more"
                parts.append(
                    f"{instrument.label} {_fmt(measure, scores[-1])} at session {sessions[-1]} "
                    f"(severe range: {instrument.severe_cutoff:g} {side})"
                )
        return "Severe symptoms: " + "; ".join(parts) + "."
    if code == "reliable_deterioration":
        parts = []
        for measure in SYMPTOM_MEASURES:
            instrument = INSTRUMENTS[measure]
            scores, sessions = _scores(measure, history)
            if len(scores) < 2:
                continue
            change = instrument.improvement(scores[0], scores[-1])
            if change <= -instrument.reliable_change:
                verb = "fell" if instrument.higher_is_better else "rose"
                parts.append(
                    f"{instrument.label} {verb} from {_fmt(measure, scores[0])} at session "
                    f"{sessions[0]} to {_fmt(measure, scores[-1])} at session {sessions[-1]} "
                    f"(a change of {instrument.reliable_change:g} or more is beyond "
                    "measurement error)"
                )
        return "Reliable deterioration: " + "; ".join(parts) + "."
    if code == "srs_below_cutoff":
        return (
            f"Session Rating Scale {_value(row, 'srs_latest'):g} is below the "
            f"{SRS.clinical_cutoff:g} cut-off (PCOMS): the client may not feel heard or may "
            "disagree with the goals or approach."
        )
    if code in ("alliance_rupture", "alliance_rupture_repaired"):
        state = "rupture_unrepaired" if code == "alliance_rupture" else "rupture_repaired"
        names = [
            INSTRUMENTS[m].label for m in ALLIANCE_MEASURES if _value(row, f"{m}_{state}") == 1
        ]
        if code == "alliance_rupture":
            return (
                f"Alliance rupture not yet repaired: {', '.join(names)} fell sharply from one "
                "session to the next and has not recovered."
            )
        return f"Alliance rupture repaired: {', '.join(names)} recovered after a sharp fall."
    if code == "not_on_track":
        return (
            "Not on track: symptoms are worse than expected for this intake severity by "
            f"{_value(row, 'symptoms_off_track'):.1f} times the reliable change (flagged from "
            "1 times)."
        )
    missed = int(_value(row, "missed_sessions"))
    latest = " including the latest one" if _value(row, "latest_missed") == 1 else ""
    return f"{missed} missed appointment{'s' if missed != 1 else ''} so far{latest}."
