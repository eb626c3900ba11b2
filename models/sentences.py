"""Plain words for what carries a factor's contribution, per clinical concept.

:func:`describe` turns one client's values into a short statement ("Client-rated alliance
(WAI-SR) is low at 1.9 (session 4; up from 1.2 at session 1)") and the values behind it.
The statement names what was seen, never a feature name, and it is *faithful*:

* It describes the part of the concept that carries the contribution: the level, the
  change, a rupture, the attendance pattern. Within a concept the features are grouped by
  what they measure (:data:`ASPECTS`), and the group that pulls the estimate the way the
  whole concept does is described first.
* Each candidate statement has a polarity: news that would raise a risk (``RAISES``: "is
  low", "missed", "has not improved"), news that would lower it (``LOWERS``: "improved",
  "attended all"), or neither (``NEUTRAL``: "is 3.4 at session 2"). A statement is used only
  when its polarity agrees with the contribution's sign, or is neutral; so a sentence never
  claims an improvement while the factor raises the risk (or a worsening while it lowers
  it) unless it also names what does ("is low at 1.9 (up from 1.2)": the level is named).
* Where there is nothing honest to add, the statement falls back to the values alone.

Measures never recorded are not described here: their contributions are data gaps,
reported apart (:func:`models.explanations.data_gaps`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from features.engineering import FEATURE_INDEX, FEATURES
from features.instruments import INSTRUMENTS, Instrument
from features.recovery import distance_from_expected, expected_score
from models.sentence_inputs import ClientHistory, ReferenceProfile

RAISES, LOWERS, NEUTRAL = 1, -1, 0

#: What each feature statistic measures, for choosing what to describe.
ASPECTS = {
    "latest": "level",
    "below_cutoff": "level",
    "first": "start",
    "best": "level",
    "worst": "level",
    "mean": "level",
    "scores": "count",
    "recent_change": "change",
    "improvement": "change",
    "slope": "change",
    "off_track": "change",
    "drop": "rupture",
    "largest_drop": "rupture",
    "repaired": "rupture",
    "unrepaired": "rupture",
    "missed": "missed",
    "missed_share": "missed",
    "latest_missed": "missed",
    "missed_in_a_row": "missed",
    "days": "timing",
    "mean_gap": "timing",
    "latest_gap": "timing",
}
_ALLIANCE_MEASURE = {
    "client_alliance": "wai_client",
    "therapist_alliance": "wai_therapist",
    "session_feedback": "srs",
}
#: Reference deciles cut at these positions mark a level as low or high for the service.
_LOW_DECILE, _HIGH_DECILE = 2, 6


class Statement(NamedTuple):
    """A candidate description and the way its news points (``RAISES``, ``LOWERS``...)."""

    text: str
    values: str
    polarity: int


@dataclass(frozen=True)
class ConceptEffects:
    """One client's contributions within one concept, by feature (probability scale)."""

    concept: str
    effects: Mapping[str, float]

    @property
    def total(self) -> float:
        return float(sum(self.effects.values()))

    def of(self, *, aspect: str | None = None, measure: str | None = None) -> float:
        """The summed effect of the features of ``aspect`` and ``measure``."""
        total = 0  # summed in the effects' order, from 0, as sum() does
        for name, effect in self.effects.items():
            if (aspect is None or _ASPECT_OF[name] == aspect) and (
                measure is None or measure in _SOURCES_OF[name]
            ):
                total += effect
        return float(total)

    def by_aspect(self) -> dict[str, float]:
        """The summed effect of each aspect's features (as :meth:`of` sums them), in one
        pass over the effects."""
        totals: dict[str, float] = {}
        for name, effect in self.effects.items():
            aspect = _ASPECT_OF[name]
            totals[aspect] = totals.get(aspect, 0) + effect
        return totals


_FEATURE = {f.name: f for f in FEATURES}
# Looked up for every feature of every listed factor of every request: read once here.
_ASPECT_OF = {f.name: ASPECTS.get(f.statistic) for f in FEATURES}
_SOURCES_OF = {f.name: frozenset(f.sources) for f in FEATURES}


def describe(
    effects: ConceptEffects,
    row: np.ndarray,
    history: ClientHistory,
    *,
    outcome: str,
    reference: ReferenceProfile | None = None,
) -> tuple[str, str]:
    """``(statement, values)`` for one concept of one client, agreeing with its effect.

    Args:
        effects: the client's contributions within the concept.
        row: the client's feature vector.
        history: the client's history.
        outcome: ``dropout`` or ``poor_outcome`` (some statements are outcome-specific).
        reference: the training population's profile (bundle metadata ``reference``),
            which tells whether a level is low or high for the clients the model learnt
            from; without it levels are described by their values and cut-offs only.
    """
    sign = RAISES if effects.total > 0 else LOWERS
    profile = reference if reference is not None else ReferenceProfile(None)
    candidates = _candidates(effects, row, history, sign, outcome, profile)
    for statement in candidates:
        if statement.polarity in (sign, NEUTRAL):
            return statement.text, statement.values
    raise AssertionError("every concept ends with a neutral statement")  # pragma: no cover


def _candidates(
    effects: ConceptEffects,
    row: np.ndarray,
    history: ClientHistory,
    sign: int,
    outcome: str,
    reference: ReferenceProfile,
) -> Iterable[Statement]:
    concept = effects.concept
    if concept in _ALLIANCE_MEASURE:
        return _alliance(_ALLIANCE_MEASURE[concept], effects, history, sign, reference)
    if concept == "symptom_level":
        measure = _leading_measure(effects, history, sign)
        return _symptom_level(measure, effects, history, sign, reference)
    if concept == "symptom_change":
        measure = _leading_measure(effects, history, sign, row=row)
        return _symptom_change(measure, history, outcome)
    if concept == "attendance":
        return _attendance(effects, row, history, sign)
    if concept == "alliance_agreement":
        gap = float(row[FEATURE_INDEX["alliance_client_minus_therapist"]])
        side = "higher" if gap >= 0 else "lower"
        return [
            Statement(
                f"Client rates the alliance {abs(gap):.1f} points {side} than the therapist",
                f"client minus therapist WAI-SR {gap:+.1f}",
                NEUTRAL,
            )
        ]
    if concept == "treatment_stage":
        k = history.as_of_session
        return [Statement(f"Estimate made at session {k}", f"session {k}", NEUTRAL)]
    if concept == "presenting_concern":
        concern = history.primary_concern
        return [Statement(f"Presenting concern: {concern}", concern, NEUTRAL)]
    return _demographics(effects, history)


# --- helpers ---------------------------------------------------------------------------


def _fmt(measure: str, value: float) -> str:
    return f"{value:.0f}" if INSTRUMENTS[measure].integer else f"{value:.1f}"


def _ordered_aspects(effects: ConceptEffects, aspects: tuple[str, ...], sign: int) -> list[str]:
    """Aspects pulling the concept's way first (largest first), then the others."""
    totals = effects.by_aspect()
    sized = [(float(totals.get(a, 0)), a) for a in aspects]
    agreeing = [a for _, a in sorted(((e, a) for e, a in sized if e * sign > 0), key=_largest)]
    return agreeing + [a for _, a in sized if a not in agreeing]


def _largest(sized: tuple[float, str]) -> float:
    return -abs(sized[0])


def _leading_measure(
    effects: ConceptEffects, history: ClientHistory, sign: int, *, row: np.ndarray | None = None
) -> str:
    """The recorded measure whose features pull most the concept's way."""
    recorded = history.recorded_measures()
    sized = {m: effects.of(measure=m) for m in recorded if INSTRUMENTS[m].kind == "symptom"}
    if not sized:
        return "phq9"
    best = max(sized, key=lambda m: sized[m] * sign)
    if sized[best] * sign <= 0 and row is not None:
        # Only the cross-measure gap to the expected curve moves: name the furthest off.
        off = {
            m: float(row[FEATURE_INDEX[f"{m}_off_track"]])
            for m in sized
            if not np.isnan(row[FEATURE_INDEX[f"{m}_off_track"]])
        }
        if off:
            return max(off, key=off.get)
    return best


def _relative_words(
    instrument: Instrument, value: float, reference: ReferenceProfile
) -> list[tuple[str, int]]:
    """How the score stands among the clients the model learnt from, with its news.

    Outer words ("low", "high") for the lowest and highest 30%, "lower/higher than for most
    clients" either side of the middle; the news follows the instrument's direction.
    """
    standing = reference.standing(instrument.column, value)
    if standing is None or abs(standing - 0.5) < 0.05:
        return []
    lower = standing < 0.5
    news = RAISES if lower == instrument.higher_is_better else LOWERS
    words = []
    if standing < 0.3 or standing > 0.7:
        words.append(("low" if lower else "high", news))
    words.append(
        ("lower than for most clients" if lower else "higher than for most clients", news)
    )
    return words


# --- alliance ---------------------------------------------------------------------------


def _alliance(
    measure: str,
    effects: ConceptEffects,
    history: ClientHistory,
    sign: int,
    reference: ReferenceProfile,
) -> Iterator[Statement]:
    instrument = INSTRUMENTS[measure]
    name = instrument.label
    scores, sessions = history.scores(measure)
    latest, at = _fmt(measure, scores[-1]), sessions[-1]
    neutral = f"{name} is {latest} at session {at}"
    if len(scores) == 1:
        level = _alliance_level(instrument, scores[-1], at, reference, change="")
        one = " (one score so far)"
        yield from (Statement(s.text + one, s.values, s.polarity) for s in level)
        yield Statement(neutral + one, latest, NEUTRAL)
        return
    first, since = _fmt(measure, scores[0]), sessions[0]
    values = f"{first} -> {latest} (session {since} to {at})"
    change = scores[-1] - scores[0]
    material = abs(change) >= instrument.rupture_drop / 2
    direction = "up" if change > 0 else "down"
    context = f"; {direction} from {first} at session {since}" if material else ""
    # Written only when reached: the first statement that agrees with the effect is used.
    statements = {
        "level": lambda: _alliance_level(instrument, scores[-1], at, reference, change=context),
        "change": lambda: [_alliance_change(name, first, latest, since, at, change, material)],
        "rupture": lambda: _rupture(measure, scores, sessions),
    }
    for aspect in _ordered_aspects(effects, ("level", "change", "rupture"), sign):
        yield from statements[aspect]()
    yield Statement(neutral, values, NEUTRAL)


def _alliance_level(
    instrument: Instrument,
    score: float,
    session: int,
    reference: ReferenceProfile,
    *,
    change: str,
) -> list[Statement]:
    """The latest level, named low or high (or against the SRS cut-off) where that holds."""
    value = _fmt(instrument.column, score)
    found = []
    cutoff = instrument.clinical_cutoff
    if cutoff is not None:
        below = score < cutoff
        side = "below" if below else "at or above"
        found.append(
            Statement(
                f"{instrument.label} is {value} at session {session}, {side} the {cutoff:g} "
                f"cut-off" + (f" ({change[2:]})" if change else ""),
                value,
                RAISES if below else LOWERS,
            )
        )
    if cutoff is not None:
        return found
    for word, news in _relative_words(instrument, score, reference):
        text = (
            f"{instrument.label} is {word} at {value} (session {session}{change})"
            if word in ("low", "high")
            else f"{instrument.label} is {value} at session {session}, {word}"
            + (f" ({change[2:]})" if change else "")
        )
        found.append(Statement(text, value, news))
    return found


def _alliance_change(
    name: str, first: str, latest: str, since: int, at: int, change: float, material: bool
) -> Statement:
    values = f"{first} -> {latest} (session {since} to {at})"
    if not material:
        text = f"{name} has stayed about the same: {first} at session {since}, {latest} now"
        return Statement(text, values, NEUTRAL)
    verb, polarity = ("rose", LOWERS) if change > 0 else ("fell", RAISES)
    return Statement(f"{name} {verb} from {first} to {latest} (session {since} to {at})",
                     values, polarity)  # fmt: skip


def _rupture(measure: str, scores: list[float], sessions: list[int]) -> list[Statement]:
    """A sharp fall from one recorded score to the next: repaired or not, or none at all."""
    instrument = INSTRUMENTS[measure]
    falls = [before - after for before, after in zip(scores[:-1], scores[1:], strict=True)]
    worst = falls.index(max(falls))  # the first of the largest, as numpy's argmax
    if falls[worst] < instrument.rupture_drop - 1e-9:
        return [
            Statement(
                f"No alliance rupture so far: {instrument.label} has not fallen by "
                f"{instrument.rupture_drop:g} or more from one session to the next",
                "no rupture",
                LOWERS,
            )
        ]
    before, after = _fmt(measure, scores[worst]), _fmt(measure, scores[worst + 1])
    at = sessions[worst + 1]
    values = f"{before} -> {after} (session {sessions[worst]} to {at})"
    repaired = (
        max(scores[worst + 2 :], default=-math.inf) >= scores[worst] - instrument.rupture_drop / 2
    )
    if repaired:
        return [
            Statement(
                f"{instrument.label} recovered after a sharp fall at session {at} "
                "(a repaired rupture)",
                values,
                LOWERS,
            )
        ]
    return [
        Statement(
            f"{instrument.label} fell sharply from {before} to {after} at session {at} and has "
            "not recovered (an alliance rupture)",
            values,
            RAISES,
        )
    ]


# --- symptoms ---------------------------------------------------------------------------


def _range_words(instrument: Instrument, score: float) -> tuple[str, int]:
    """Where ``score`` lies: severe, clinical or outside the clinical range, and its news.

    "Outside", not "below": for the ORS, where higher is better, the healthy side is above
    the cut-off, and "below the clinical range (25 or more)" read as its opposite.
    """
    cutoff = instrument.clinical_cutoff
    worse = "or below" if instrument.higher_is_better else "or more"
    if instrument.in_severe_range(score):
        return f"in the severe range ({instrument.severe_cutoff:g} {worse})", RAISES
    if instrument.in_concern_range(score):
        clinical = f"below {cutoff:g}" if instrument.higher_is_better else f"{cutoff:g} or more"
        return f"in the clinical range ({clinical})", RAISES
    healthy = f"{cutoff:g} or more" if instrument.higher_is_better else f"under {cutoff:g}"
    return f"outside the clinical range ({healthy})", LOWERS


def _symptom_level(
    measure: str,
    effects: ConceptEffects,
    history: ClientHistory,
    sign: int,
    reference: ReferenceProfile,
) -> list[Statement]:
    instrument = INSTRUMENTS[measure]
    scores, sessions = history.scores(measure)
    latest, at = _fmt(measure, scores[-1]), sessions[-1]
    words, polarity = _range_words(instrument, scores[-1])
    by_level = Statement(
        f"{instrument.label} is {latest} at session {at}, {words}", latest, polarity
    )
    statements = [by_level]
    if len(scores) > 1 and effects.of(aspect="start", measure=measure) * sign > abs(
        effects.of(aspect="level", measure=measure)
    ):
        first = _fmt(measure, scores[0])
        start_words, start_polarity = _range_words(instrument, scores[0])
        statements.insert(
            0,
            Statement(
                f"{instrument.label} started {start_words} at {first} (session {sessions[0]})",
                f"{first} at session {sessions[0]}",
                start_polarity,
            ),
        )
    relative = {
        "lower than for most clients": "milder than for most clients",
        "higher than for most clients": "more severe than for most clients",
    }
    statements += [
        Statement(
            f"{instrument.label} is {latest} at session {at}, {relative[word]}", latest, news
        )
        for word, news in _relative_words(instrument, scores[-1], reference)
        if word in relative and not instrument.higher_is_better
    ]
    return [
        *statements,
        Statement(f"{instrument.label} is {latest} at session {at}", latest, NEUTRAL),
    ]


def _symptom_change(measure: str, history: ClientHistory, outcome: str) -> list[Statement]:
    instrument = INSTRUMENTS[measure]
    name = instrument.label
    scores, sessions = history.scores(measure)
    if len(scores) < 2:
        latest = _fmt(measure, scores[-1])
        return [
            Statement(
                f"Only one {name} score so far ({latest} at session {sessions[-1]}): change "
                "cannot be judged yet",
                "1 score",
                NEUTRAL,
            )
        ]
    first, latest = _fmt(measure, scores[0]), _fmt(measure, scores[-1])
    elapsed = sessions[-1] - sessions[0]
    expected = float(
        expected_score(measure, intake_score=scores[0], sessions_since_intake=elapsed)
    )
    off_track = float(
        distance_from_expected(
            measure, intake_score=scores[0], score=scores[-1], sessions_since_intake=elapsed
        )
    )
    course = f"{first} at session {sessions[0]}, {latest} at session {sessions[-1]}"
    shown = f"{course} (about {_fmt(measure, round(expected))} expected by now)"
    values = f"{first} -> {latest}; expected {expected:.1f}"
    change = instrument.improvement(scores[0], scores[-1])
    reliable = instrument.reliable_change
    statements = []
    if change <= -reliable:
        statements.append(Statement(f"{name} worsened: {course}", values, RAISES))
    elif change > 0 and off_track > 0:
        statements.append(
            Statement(f"{name} improved less than expected: {shown}", values, RAISES)
        )
    elif change > 0:
        statements.append(Statement(f"{name} improved: {shown}", values, LOWERS))
        if outcome == "dropout":
            statements.append(
                Statement(
                    f"{name} improved early: {course}; some clients stop coming once they "
                    "feel better",
                    values,
                    RAISES,
                )
            )
    else:
        statements.append(Statement(f"{name} has not improved: {shown}", values, RAISES))
    if change >= reliable:
        statements.append(
            Statement(
                f"{name} improved reliably: {course} (a change of {reliable:g} or more is "
                "beyond measurement error)",
                values,
                LOWERS,
            )
        )
    if abs(change) < reliable:
        statements.append(Statement(f"{name} has changed little: {course}", values, NEUTRAL))
    return [
        *statements,
        Statement(f"{name} is {latest} at session {sessions[-1]}", latest, NEUTRAL),
    ]


# --- attendance and the client row -------------------------------------------------------


def _attendance(
    effects: ConceptEffects, row: np.ndarray, history: ClientHistory, sign: int
) -> list[Statement]:
    k = history.as_of_session
    missed = int(row[FEATURE_INDEX["missed_sessions"]])
    latest_missed = row[FEATURE_INDEX["latest_missed"]] == 1
    if missed == 0:
        attended = (
            Statement(f"Attended all {k} appointments so far", f"0 of {k} missed", LOWERS)
            if k > 1
            else Statement("Attended the first appointment", "0 of 1 missed", LOWERS)
        )
    elif latest_missed and missed == 1:
        attended = Statement(
            f"Missed the latest appointment (session {k})", f"1 of {k} missed", RAISES
        )
    else:
        where = ", ".join(str(s) for s in history.missed_sessions())
        attended = Statement(
            f"Missed {missed} of {k} appointments (session {where})"
            + (", including the latest" if latest_missed else ""),
            f"{missed} of {k} missed",
            RAISES,
        )
    timing = []
    if k >= 2:
        days = row[FEATURE_INDEX["days_since_previous_session"]]
        gap = row[FEATURE_INDEX["mean_days_between_sessions"]]
        timing = [
            Statement(
                f"{days:.0f} days since the previous appointment", f"{days:.0f} days", NEUTRAL
            ),
            Statement(
                f"Appointments about every {gap:.0f} days since intake",
                f"{gap:.0f} days apart",
                NEUTRAL,
            ),
        ]
        if effects.of(aspect="timing") * sign > 0 and abs(
            effects.effects.get("mean_days_between_sessions", 0.0)
            + effects.effects.get("days_since_intake", 0.0)
        ) > abs(effects.effects.get("days_since_previous_session", 0.0)):
            timing.reverse()
    ordered = _ordered_aspects(effects, ("missed", "timing"), sign)
    groups = {"missed": [attended], "timing": timing}
    return [s for aspect in ordered for s in groups[aspect]] + [
        Statement(f"{k} appointment{'s' if k != 1 else ''} so far", f"session {k}", NEUTRAL)
    ]


def _demographics(effects: ConceptEffects, history: ClientHistory) -> list[Statement]:
    leading = max(effects.effects, key=lambda name: abs(effects.effects[name]))
    if leading == "prior_treatment":
        text = "yes" if history.prior_treatment == 1 else "no"
        return [Statement(f"Previous treatment: {text}", text, NEUTRAL)]
    if leading.startswith("gender_"):
        gender = history.gender
        return [Statement(f"Gender: {gender}", gender, NEUTRAL)]
    age = int(history.age)
    return [Statement(f"Age {age}", str(age), NEUTRAL)]
