"""Clinical signals: the rule-based flags existing systems raise, reported beside the score.

Each signal is a plain rule on the feature vector, so training (as rule baselines), batch
scoring and the service compute them the same way:

* ``srs_below_cutoff``: latest Session Rating Scale below 36 (PCOMS / OpenFIT).
* ``alliance_rupture``: a session-to-session alliance fall of at least the instrument's
  rupture threshold that has not been repaired (Safran et al. 2011; thresholds in
  :mod:`features.instruments`); a repaired rupture is reported as such.
* ``not_on_track``: a symptom score worse than the expected recovery curve by at least the
  reliable change value (OQ-Analyst style, :mod:`features.recovery`).
* ``missed_appointments``: the latest appointment missed, or two or more missed so far.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.engineering import FEATURE_INDEX
from features.instruments import ALLIANCE_MEASURES, INSTRUMENTS, SRS

SIGNAL_CODES = (
    "srs_below_cutoff",
    "alliance_rupture",
    "alliance_rupture_repaired",
    "not_on_track",
    "missed_appointments",
)
#: Missed appointments that raise the signal even when the latest one was attended.
MISSED_APPOINTMENTS_FLAG = 2


@dataclass(frozen=True, slots=True)
class Signal:
    """One raised signal: a stable code and a sentence for the clinician."""

    code: str
    text: str


def _column(features: np.ndarray, name: str) -> np.ndarray:
    return features[:, FEATURE_INDEX[name]]


def signal_flags(features: np.ndarray) -> dict[str, np.ndarray]:
    """Each signal as a boolean per row of ``features`` (a missing input raises nothing)."""
    unrepaired = np.zeros(len(features), dtype=bool)
    repaired = np.zeros(len(features), dtype=bool)
    for measure in ALLIANCE_MEASURES:
        unrepaired |= _column(features, f"{measure}_rupture_unrepaired") == 1
        repaired |= _column(features, f"{measure}_rupture_repaired") == 1
    return {
        "srs_below_cutoff": _column(features, "srs_below_cutoff") == 1,
        "alliance_rupture": unrepaired,
        "alliance_rupture_repaired": repaired & ~unrepaired,
        "not_on_track": _column(features, "symptoms_off_track") >= 1.0,
        "missed_appointments": (_column(features, "latest_missed") == 1)
        | (_column(features, "missed_sessions") >= MISSED_APPOINTMENTS_FLAG),
    }


def clinical_signals(features: np.ndarray) -> list[list[Signal]]:
    """The raised signals of each row, with sentences built from its own values."""
    flags = signal_flags(features)
    return [
        [Signal(code, _sentence(code, features[row])) for code in SIGNAL_CODES if flags[code][row]]
        for row in range(len(features))
    ]


def _value(row: np.ndarray, name: str) -> float:
    return float(row[FEATURE_INDEX[name]])


def _sentence(code: str, row: np.ndarray) -> str:
    if code == "srs_below_cutoff":
        return (
            f"Session Rating Scale {_value(row, 'srs_latest'):g} is below the "
            f"{SRS.clinical_cutoff:g} cut-off: the client may not feel heard or may disagree "
            "with the goals or approach."
        )
    if code in ("alliance_rupture", "alliance_rupture_repaired"):
        state = "rupture_unrepaired" if code == "alliance_rupture" else "rupture_repaired"
        names = [
            INSTRUMENTS[m].label for m in ALLIANCE_MEASURES if _value(row, f"{m}_{state}") == 1
        ]
        if code == "alliance_rupture":
            return f"Alliance rupture not yet repaired: {', '.join(names)} fell sharply."
        return f"Alliance rupture repaired: {', '.join(names)} recovered after a fall."
    if code == "not_on_track":
        return (
            "Not on track: symptoms are worse than expected for this intake severity by "
            f"{_value(row, 'symptoms_off_track'):.1f} times the reliable change."
        )
    missed = int(_value(row, "missed_sessions"))
    latest = " including the latest one" if _value(row, "latest_missed") == 1 else ""
    return f"{missed} missed appointment{'s' if missed != 1 else ''} so far{latest}."
