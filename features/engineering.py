"""The one feature function: client histories through session k -> feature vectors.

:func:`compute_features` turns a :class:`~features.history.HistoryBatch` into a matrix with
one column per :data:`FEATURES` entry. Training, batch scoring and the service all call it;
a request is a batch of one. It is numpy only (no pandas), vectorised over clients, and a
missing input gives a missing (NaN) feature, never 0.

Each feature has a clinical concept (used to group explanations) and, per outcome, the
direction in which it may move the risk where that direction is established in the
literature (used as the model's monotone constraints): for example a better client-rated
alliance never raises dropout risk (Sharf et al. 2010).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.history import HistoryBatch
from features.instruments import (
    ALLIANCE_MEASURES,
    INSTRUMENTS,
    MEASURE_COLUMNS,
    SRS,
    SYMPTOM_MEASURES,
)
from features.recovery import distance_from_expected
from features.vocabulary import GENDERS, OUTCOMES, PRIMARY_CONCERNS

RAISES, LOWERS, FREE = 1, -1, 0
#: Slack for comparisons of score differences with clinical thresholds.
_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class Feature:
    """One model input.

    Attributes:
        name: column name.
        concept: the clinical concept it belongs to (explanations are grouped by it).
        measure: the session measure it is computed from, if any.
        statistic: what it is of that measure (``latest``, ``improvement``, ...).
        dropout: direction constraint for the dropout model (RAISES, LOWERS or FREE).
        poor_outcome: direction constraint for the poor-outcome model.
        sources: the recorded inputs it is computed from: session measures, or
            ``prior_treatment``. When they were never recorded the feature is missing
            because of a data gap, not because of anything about the client.
        needs_every_source: missing when any source is missing (a difference of two
            measures), rather than only when all are (a maximum over several).
    """

    name: str
    concept: str
    measure: str | None
    statistic: str
    dropout: int = FREE
    poor_outcome: int = FREE
    sources: tuple[str, ...] = ()
    needs_every_source: bool = False

    def __post_init__(self) -> None:
        if self.measure is not None and not self.sources:
            object.__setattr__(self, "sources", (self.measure,))

    def direction(self, outcome: str) -> int:
        """The monotone constraint of this feature in the model of ``outcome``."""
        return self.dropout if outcome == "dropout" else self.poor_outcome


#: Concepts in the words a clinician uses, for explanations and the model card.
CONCEPTS = {
    "client_alliance": "Client-rated alliance (WAI-SR)",
    "therapist_alliance": "Therapist-rated alliance (WAI-SR-T)",
    "session_feedback": "Session feedback (SRS)",
    "alliance_agreement": "Client and therapist views of the alliance",
    "symptom_level": "Symptom level",
    "symptom_change": "Symptom change and progress",
    "attendance": "Attendance",
    "demographics": "Age, gender and treatment history",
    "presenting_concern": "Presenting concern",
    "treatment_stage": "Point in treatment",
}
_ALLIANCE_CONCEPT = {
    "wai_client": "client_alliance",
    "wai_therapist": "therapist_alliance",
    "srs": "session_feedback",
}
_LEVEL_STATISTICS = ("latest", "first", "best", "worst", "mean")


def _measure_features(measure: str) -> list[Feature]:
    instrument = INSTRUMENTS[measure]
    if instrument.kind == "alliance":
        # A better alliance, at any session and in any summary, never raises either risk;
        # an unrepaired rupture raises it, a repaired one does not (Safran et al. 2011).
        concept = _ALLIANCE_CONCEPT[measure]
        better = {"dropout": LOWERS, "poor_outcome": LOWERS}
        worse = {"dropout": RAISES, "poor_outcome": RAISES}
        return [
            *(Feature(f"{measure}_{s}", concept, measure, s, **better) for s in _LEVEL_STATISTICS),
            Feature(f"{measure}_improvement", concept, measure, "improvement", **better),
            Feature(f"{measure}_slope", concept, measure, "slope", **better),
            Feature(f"{measure}_drop_from_previous", concept, measure, "drop", **worse),
            Feature(f"{measure}_largest_drop", concept, measure, "largest_drop", **worse),
            Feature(f"{measure}_rupture_repaired", concept, measure, "repaired", **better),
            Feature(f"{measure}_rupture_unrepaired", concept, measure, "unrepaired", **worse),
            Feature(f"{measure}_scores", concept, measure, "scores"),
        ]
    # Symptoms: the direction for dropout is not established (dropouts include improvers,
    # Romero et al.); for poor outcome, a worse latest score, less improvement and a larger
    # gap to the expected curve never lower the risk.
    worse_latest = RAISES if not instrument.higher_is_better else LOWERS
    return [
        Feature(
            f"{measure}_latest", "symptom_level", measure, "latest", poor_outcome=worse_latest
        ),
        Feature(f"{measure}_first", "symptom_level", measure, "first"),
        Feature(f"{measure}_best", "symptom_level", measure, "best"),
        Feature(f"{measure}_worst", "symptom_level", measure, "worst"),
        Feature(f"{measure}_mean", "symptom_level", measure, "mean"),
        Feature(f"{measure}_improvement", "symptom_change", measure, "improvement", FREE, LOWERS),
        Feature(f"{measure}_slope", "symptom_change", measure, "slope", FREE, LOWERS),
        Feature(f"{measure}_recent_change", "symptom_change", measure, "recent_change"),
        Feature(f"{measure}_off_track", "symptom_change", measure, "off_track", FREE, RAISES),
        Feature(f"{measure}_scores", "symptom_level", measure, "scores"),
    ]


def _all_features() -> tuple[Feature, ...]:
    features = [f for measure in MEASURE_COLUMNS for f in _measure_features(measure)]
    features += [
        Feature(
            "symptoms_off_track",
            "symptom_change",
            None,
            "off_track",
            FREE,
            RAISES,
            sources=SYMPTOM_MEASURES,
        ),
        Feature("srs_below_cutoff", "session_feedback", "srs", "below_cutoff", RAISES, RAISES),
        Feature(
            "alliance_client_minus_therapist",
            "alliance_agreement",
            None,
            "gap",
            LOWERS,
            LOWERS,
            sources=("wai_client", "wai_therapist"),
            needs_every_source=True,
        ),
        # Missed appointments foreshadow dropout (Davis et al. 2020; domain.md 2.4).
        Feature("missed_sessions", "attendance", None, "missed", RAISES),
        Feature("missed_share", "attendance", None, "missed_share", RAISES),
        Feature("latest_missed", "attendance", None, "latest_missed", RAISES),
        Feature("missed_in_a_row", "attendance", None, "missed_in_a_row", RAISES),
        Feature("days_since_intake", "attendance", None, "days"),
        Feature("mean_days_between_sessions", "attendance", None, "mean_gap"),
        Feature("days_since_previous_session", "attendance", None, "latest_gap"),
        # Younger clients drop out more (Bennemann et al. 2022; Swift & Greenberg 2012).
        Feature("age", "demographics", None, "age", LOWERS),
        Feature(
            "prior_treatment",
            "demographics",
            None,
            "prior_treatment",
            sources=("prior_treatment",),
        ),
        *(Feature(f"gender_{g}", "demographics", None, "gender") for g in GENDERS),
        *(
            Feature(f"concern_{c}", "presenting_concern", None, "concern")
            for c in PRIMARY_CONCERNS
        ),
        Feature("as_of_session", "treatment_stage", None, "k"),
    ]
    return tuple(features)


FEATURES: tuple[Feature, ...] = _all_features()
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
FEATURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}


#: The concepts whose clinical directions the models are held to. The ablation
#: (bench/bench_ablation.py, docs/model-quality.md) found that the constraints cost nothing
#: measurable on the project's simulator, yet an unconstrained model won on an independent
#: one: so a direction is enforced only where it is best established and a clinician would
#: distrust a model without it: a better client-rated alliance never raises either risk
#: (Sharf et al. 2010; Flückiger et al. 2018), and a missed appointment never lowers the
#: risk of dropout (Davis et al. 2020). The client-minus-therapist gap is held too: a
#: client's rating enters it, so a free gap would let a better client rating raise a risk.
#: Elsewhere the directions document the literature and the trees are free.
ENFORCED_CONCEPTS: dict[str, frozenset[str]] = {
    "dropout": frozenset({"client_alliance", "alliance_agreement", "attendance"}),
    "poor_outcome": frozenset({"client_alliance", "alliance_agreement"}),
}


def monotone_constraints(outcome: str) -> tuple[int, ...]:
    """The enforced monotone constraint of every feature, in :data:`FEATURE_NAMES` order."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; expected one of {OUTCOMES}")
    enforced = ENFORCED_CONCEPTS[outcome]
    return tuple(f.direction(outcome) if f.concept in enforced else FREE for f in FEATURES)


def compute_features(history: HistoryBatch) -> np.ndarray:
    """Feature matrix of shape ``(len(history), len(FEATURES))``, NaN where unknown."""
    # All-missing slices are expected (a measure a clinic does not use): they give NaN,
    # silently. numpy's error state is per thread (a context variable), so threads may
    # featurise at once; the reductions below warn about nothing else.
    with np.errstate(invalid="ignore", divide="ignore"):
        columns = _measure_columns(history)
        columns |= _cross_measure_columns(columns)
        columns |= _attendance_columns(history)
        columns |= _client_columns(history)
    matrix = np.empty((len(history), len(FEATURE_NAMES)))
    for j, name in enumerate(FEATURE_NAMES):
        matrix[:, j] = columns[name]
    return matrix


def _measure_columns(history: HistoryBatch) -> dict[str, np.ndarray]:
    # Every statistic is computed for all measures at once, on (clients, measures) arrays:
    # a request is a batch of one, where a numpy call per measure costs more than the data.
    scores = history.measures
    n, window, _ = scores.shape
    seen = ~np.isnan(scores)
    count = seen.sum(axis=1)
    first_slot = np.argmax(seen, axis=1)
    last_slot = window - 1 - np.argmax(seen[:, ::-1, :], axis=1)
    first = _at_slot(scores, first_slot)
    latest = _at_slot(scores, last_slot)
    first[count == 0] = np.nan
    latest[count == 0] = np.nan
    two_or_more = count >= 2
    high, low = np.fmax.reduce(scores, axis=1), np.fmin.reduce(scores, axis=1)
    mean = _mean_of_recorded(scores, seen, count)
    improvement = np.where(two_or_more, _SIGN * (latest - first), np.nan)
    slope = _SIGN * _slope(scores, seen, count)
    recent_change = _SIGN * _change_from_previous(scores)
    ruptures = _rupture_columns(scores[:, :, _ALLIANCE], two_or_more[:, _ALLIANCE])

    columns: dict[str, np.ndarray] = {}
    for m, measure in enumerate(MEASURE_COLUMNS):
        better_is_higher = INSTRUMENTS[measure].higher_is_better
        columns[f"{measure}_latest"] = latest[:, m]
        columns[f"{measure}_first"] = first[:, m]
        columns[f"{measure}_best"] = high[:, m] if better_is_higher else low[:, m]
        columns[f"{measure}_worst"] = low[:, m] if better_is_higher else high[:, m]
        columns[f"{measure}_mean"] = mean[:, m]
        # How many scores so far: a form skipped at an attended session can say as much
        # about engagement as the score would have.
        columns[f"{measure}_scores"] = count[:, m].astype(float)
        columns[f"{measure}_improvement"] = improvement[:, m]
        columns[f"{measure}_slope"] = slope[:, m]
    for a, measure in enumerate(ALLIANCE_MEASURES):
        for statistic, values in ruptures.items():
            columns[f"{measure}_{statistic}"] = values[:, a]
    for m in _SYMPTOM:
        measure = MEASURE_COLUMNS[m]
        columns[f"{measure}_recent_change"] = recent_change[:, m]
        columns[f"{measure}_off_track"] = np.where(
            two_or_more[:, m],
            distance_from_expected(
                measure,
                intake_score=first[:, m],
                score=latest[:, m],
                sessions_since_intake=last_slot[:, m] - first_slot[:, m],
            ),
            np.nan,
        )
    return columns


#: Per measure (contract order): +1 where a higher score is better, else -1, so that every
#: change feature is positive when the client got better.
_SIGN = np.array([1.0 if INSTRUMENTS[m].higher_is_better else -1.0 for m in MEASURE_COLUMNS])
_ALLIANCE = np.array([MEASURE_COLUMNS.index(m) for m in ALLIANCE_MEASURES])
_SYMPTOM = tuple(MEASURE_COLUMNS.index(m) for m in SYMPTOM_MEASURES)
_RUPTURE_DROP = np.array([INSTRUMENTS[m].rupture_drop for m in ALLIANCE_MEASURES])


# numpy's nan-functions (nanmax, nanmean, nansum) give these same values, but each call
# costs several times the arithmetic on a request's one-row arrays and warns on every
# all-missing slice (a measure a clinic does not use), which then has to be filtered; the
# ufunc reductions below skip both. fmax/fmin ignore NaN unless all are NaN, as nanmax does.


def _at_slot(values: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """(clients, measures): ``values[client, slot[client, measure], measure]``."""
    clients, measures = np.indices(slot.shape, sparse=True)
    return values[clients, slot, measures]


def _sum_of_recorded(values: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Sum over sessions (axis 1) of the recorded values: ``np.nansum`` where ``seen`` is
    the values' ``~isnan``."""
    return np.where(seen, values, 0.0).sum(axis=1)


def _mean_of_recorded(values: np.ndarray, seen: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Mean over sessions (axis 1) of the recorded values (``np.nanmean``), NaN where none."""
    return _sum_of_recorded(values, seen) / count


def _slope(scores: np.ndarray, seen: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Least-squares change per session of each measure; NaN with fewer than two scores."""
    session = np.arange(1, scores.shape[1] + 1, dtype=float)[None, :, None]
    session = np.where(seen, session, np.nan)
    centred_session = session - _mean_of_recorded(session, seen, count)[:, None, :]
    centred_score = scores - _mean_of_recorded(scores, seen, count)[:, None, :]
    spread = _sum_of_recorded(centred_session**2, seen)
    slope = _sum_of_recorded(centred_session * centred_score, seen) / spread
    return np.where(count >= 2, slope, np.nan)


def _change_from_previous(scores: np.ndarray) -> np.ndarray:
    """(clients, measures): latest recorded score minus the one recorded before it; NaN with
    fewer than two."""
    window = scores.shape[1]
    slots = np.arange(window)[None, :, None]
    seen = ~np.isnan(scores)
    latest_slot = np.where(seen, slots, -1).max(axis=1)
    before = np.where(seen & (slots < latest_slot[:, None, :]), slots, -1).max(axis=1)
    latest = _at_slot(scores, np.maximum(latest_slot, 0))
    previous = _at_slot(scores, np.maximum(before, 0))
    return np.where(before >= 0, latest - previous, np.nan)


def _rupture_columns(scores: np.ndarray, two_or_more: np.ndarray) -> dict[str, np.ndarray]:
    """Falls from the previous recorded score, and ruptures with whether they were repaired,
    of the alliance measures (``scores``: clients, sessions, :data:`ALLIANCE_MEASURES`).

    A rupture is a fall of at least the instrument's rupture threshold from one recorded
    score to the next; it counts as repaired once a later score is back within half a
    threshold of the score before the fall.
    """
    # Scores are recorded to a few decimals: a fall of exactly the threshold must count the
    # same whatever floating-point noise the subtraction adds.
    threshold = _RUPTURE_DROP - _TOLERANCE
    n, window, measures = scores.shape
    seen = ~np.isnan(scores)
    slots = np.arange(window)[None, :, None]
    last_seen = np.maximum.accumulate(np.where(seen, slots, -1), axis=1)
    previous_slot = np.concatenate([np.full((n, 1, measures), -1), last_seen[:, :-1]], axis=1)
    previous = np.take_along_axis(scores, np.maximum(previous_slot, 0), axis=1)
    previous[previous_slot < 0] = np.nan
    fall = np.where(seen, previous - scores, np.nan)

    last_slot = last_seen[:, -1]
    fall_at_latest = _at_slot(fall, np.maximum(last_slot, 0))
    # Best score recorded after each slot (reverse running maximum).
    later_best = np.fmax.accumulate(scores[:, ::-1], axis=1)[:, ::-1]
    later_best = np.concatenate([later_best[:, 1:], np.full((n, 1, measures), np.nan)], axis=1)
    rupture = fall >= threshold
    repaired = rupture & (later_best >= previous - _RUPTURE_DROP / 2 - _TOLERANCE)
    unrepaired = rupture & ~repaired
    return {
        "drop_from_previous": np.where(two_or_more, fall_at_latest, np.nan),
        "largest_drop": np.where(two_or_more, np.fmax.reduce(fall, axis=1), np.nan),
        "rupture_repaired": np.where(two_or_more, repaired.any(axis=1), np.nan),
        "rupture_unrepaired": np.where(two_or_more, unrepaired.any(axis=1), np.nan),
    }


def _cross_measure_columns(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    off_track = np.column_stack([columns[f"{m}_off_track"] for m in SYMPTOM_MEASURES])
    srs_latest = columns["srs_latest"]
    return {
        "symptoms_off_track": np.fmax.reduce(off_track, axis=1),
        "srs_below_cutoff": np.where(
            np.isnan(srs_latest), np.nan, (srs_latest < SRS.clinical_cutoff).astype(float)
        ),
        "alliance_client_minus_therapist": columns["wai_client_latest"]
        - columns["wai_therapist_latest"],
    }


def _attendance_columns(history: HistoryBatch) -> dict[str, np.ndarray]:
    attended, day = history.attended, history.session_day
    k = history.as_of_session
    rows = np.arange(len(k))
    missed = np.nansum(attended == 0, axis=1).astype(float)
    latest_day = day[rows, k - 1]
    previous_day = np.where(k >= 2, day[rows, np.maximum(k - 2, 0)], np.nan)
    return {
        "missed_sessions": missed,
        "missed_in_a_row": _missed_in_a_row(attended, k),
        "missed_share": missed / k,
        "latest_missed": (attended[rows, k - 1] == 0).astype(float),
        "days_since_intake": latest_day,
        "mean_days_between_sessions": np.where(k >= 2, (latest_day - day[:, 0]) / (k - 1), np.nan),
        "days_since_previous_session": latest_day - previous_day,
    }


def _missed_in_a_row(attended: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Missed appointments in a row up to and including session k (0 if k was attended)."""
    slots = np.arange(attended.shape[1])
    attended_slot = np.where((attended == 1) & (slots < k[:, None]), slots, -1).max(axis=1)
    return (k - 1 - attended_slot).astype(float)


def _client_columns(history: HistoryBatch) -> dict[str, np.ndarray]:
    columns = {
        "age": history.age.astype(float),
        "prior_treatment": history.prior_treatment.astype(float),
        "as_of_session": history.as_of_session.astype(float),
    }
    for gender in GENDERS:
        columns[f"gender_{gender}"] = (history.gender == gender).astype(float)
    for concern in PRIMARY_CONCERNS:
        columns[f"concern_{concern}"] = (history.primary_concern == concern).astype(float)
    return columns
