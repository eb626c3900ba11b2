"""Targets on symptom outcomes: intake levels, early response, sudden gains, completers'
improvement, recovery and deterioration, and how early deterioration shows.

Targets 5, 6, 7, 8 and 16 of domain.md.
"""

from __future__ import annotations

import numpy as np

from features.instruments import INSTRUMENTS
from training.synth.targets.check import TargetCheck
from training.synth.targets.extract import Extract
from training.synth.targets.statistics import cohen_d, first_valid, last_valid, mean_of

__all__ = [
    "completer_outcome_checks",
    "deterioration_signal_checks",
    "intake_checks",
    "trajectory_checks",
]


def _single_outcome(extract: Extract) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Primary single outcome measure per client: improvement (RCI units), its column
    name, and its raw scores in the distress direction standardised by the intake SD."""
    improvement, name = extract.outcome_series()
    distress = np.full(improvement.shape, np.nan)
    for column in set(name) - {""}:
        chosen = name == column
        raw = extract.scores[column][chosen]
        sign = -1.0 if INSTRUMENTS[column].higher_is_better else 1.0
        intake = first_valid(extract.scores[column])
        distress[chosen] = sign * (raw - np.nanmean(intake)) / np.nanstd(intake)
    return improvement, name, distress


def trajectory_checks(*, extract: Extract) -> list[TargetCheck]:
    """Targets 5 and 6: early response and sudden gains."""
    improvement, name, distress = _single_outcome(extract)
    completed = extract.completed & (name != "")
    # Early response: by session 4, a quarter of the way from the first score to the
    # instrument's healthy level (Beard & Delgadillo 2019: typically 20-25% by week 4).
    responder = np.zeros(len(name), dtype=bool)
    for column in set(name[completed]):
        instrument = INSTRUMENTS[column]
        chosen = completed & (name == column)
        first = first_valid(extract.scores[column][chosen])
        distance = np.abs(first - instrument.healthy_level)
        early = last_valid(improvement[chosen, :4]) * instrument.reliable_change
        responder[chosen] = early >= 0.25 * distance
    post = last_valid(distress)
    g = cohen_d(post[completed & ~responder], post[completed & responder])

    gained, eligible = _sudden_gains(extract, name=name, completed=completed)
    return [
        TargetCheck(
            "early responders vs non-responders, post-treatment g",
            g,
            0.63,
            1.10,
            "target 5: g = 0.87 [0.63-1.10] (Beard & Delgadillo 2019)",
        ),
        TargetCheck(
            "sudden gain share (completers with >= 6 scores)",
            float(np.mean(gained[eligible])) if eligible.any() else float("nan"),
            0.15,
            0.40,
            "target 6: 15-40% (Tang & DeRubeis 1999; Stiles et al. 2003)",
        ),
    ]


def _sudden_gains(
    extract: Extract, *, name: np.ndarray, completed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Who shows a sudden gain, and who has enough scores (>= 6) to show one.

    Simplified Tang & DeRubeis (1999) criteria on consecutive available scores: the gain is
    at least the reliable change, at least 25% of the pre-gain distress (distance from the
    instrument's best score), and the mean of up to three later scores is at least a
    reliable change better than the mean of up to three earlier ones.
    """
    gained = np.zeros(len(name), dtype=bool)
    eligible = np.zeros(len(name), dtype=bool)
    for column in set(name[completed]):
        instrument = INSTRUMENTS[column]
        chosen = np.flatnonzero(completed & (name == column))
        raw = extract.scores[column][chosen]
        compact = np.take_along_axis(raw, np.argsort(np.isnan(raw), axis=1, kind="stable"), 1)
        count = np.sum(~np.isnan(compact), axis=1)
        best = instrument.high if instrument.higher_is_better else instrument.low
        found = np.zeros(len(chosen), dtype=bool)
        for at in range(2, compact.shape[1] - 1):
            before, after = compact[:, at - 1], compact[:, at]
            gain = instrument.improvement(before, after)
            earlier = mean_of(compact[:, max(0, at - 3) : at])
            later = mean_of(compact[:, at : at + 3])
            found |= (
                (at + 1 < count)
                & (gain >= instrument.reliable_change)
                & (gain >= 0.25 * np.abs(before - best))
                & (instrument.improvement(earlier, later) >= instrument.reliable_change)
            )
        eligible[chosen] = count >= 6
        gained[chosen] = found & (count >= 6)
    return gained, eligible


def completer_outcome_checks(*, extract: Extract) -> list[TargetCheck]:
    """Target 7: reliable improvement, deterioration and recovery, compared like with like.

    Improvement and deterioration are completers' rates (Lambert; NHS TT annual reports).
    Reliable recovery is NHS Talking Therapies' headline: among referrals that finished a
    course of treatment (at least two attended sessions, whether the ending was planned or
    not) and were at caseness on PHQ-9/GAD-7 at the start (the contract's clinical start).
    """
    ended = ~np.isnan(extract.poor_outcome)
    completed = extract.completed & ended
    improved = extract.course_flag("reliably_improved")
    worse = extract.course_flag("reliably_deteriorated")
    talking = (extract.course["outcome_measure"] == "phq9+gad7").fillna(False).to_numpy(bool)
    course_finished = ended & (extract.attended.sum(axis=1) >= 2)
    cases = course_finished & talking & extract.course_flag("clinical_start")
    recovered = cases & improved & ~extract.course_flag("clinical_end")
    return [
        TargetCheck(
            "completers reliably improved",
            float(np.mean(improved[completed])),
            0.62,
            0.72,
            "target 7: 65-69% (NHS TT 2016-2019; 2026/27 target 69%)",
        ),
        TargetCheck(
            "completers reliably deteriorated",
            float(np.mean(worse[completed])),
            0.05,
            0.10,
            "target 7: 5-10% (Lambert; Bybee 2007; ethnicity-facts max 8.2%)",
        ),
        TargetCheck(
            "reliably recovered: finished a course (>= 2 attended), PHQ-9/GAD-7 case at start",
            float(recovered.sum() / max(cases.sum(), 1)),
            0.42,
            0.57,
            "target 7: about 48-50% (NHS TT annual reports; psyreflect 2024/25)",
        ),
    ]


def intake_checks(*, extract: Extract) -> list[TargetCheck]:
    """Target 8: intake scores are mostly at caseness."""
    phq, _, phq_n = extract.first_last("phq9")
    gad, _, gad_n = extract.first_last("gad7")
    ors, _, ors_n = extract.first_last("ors")
    return [
        TargetCheck(
            "intake PHQ-9 at or above caseness (>= 10)",
            float(np.mean(phq[phq_n > 0] >= INSTRUMENTS["phq9"].clinical_cutoff)),
            0.65,
            0.95,
            "target 8: PHQ-9 mostly >= 10 (IAPT caseness)",
        ),
        TargetCheck(
            "intake GAD-7 at or above caseness (>= 8)",
            float(np.mean(gad[gad_n > 0] >= INSTRUMENTS["gad7"].clinical_cutoff)),
            0.65,
            0.95,
            "target 8: GAD-7 mostly >= 8 (IAPT caseness)",
        ),
        TargetCheck(
            "intake ORS mean",
            float(np.mean(ors[ors_n > 0])),
            16.0,
            19.0,
            "target 8: adult intake ORS 16-19 (OpenFIT KA-01028)",
        ),
    ]


def deterioration_signal_checks(*, extract: Extract) -> list[TargetCheck]:
    """Target 16: deterioration is mostly visible by session 3."""
    improvement, name = extract.outcome_series()
    completed = extract.completed & (name != "")
    worse = extract.course_flag("reliably_deteriorated") & completed
    by_session_3 = last_valid(improvement[:, :3])
    # Off track: no improvement at all by session 3 on an expected-recovery view.
    off_track = by_session_3 <= 0
    scored = completed & ~np.isnan(by_session_3)
    return [
        TargetCheck(
            "deteriorators already off track by session 3",
            float(np.mean(off_track[worse & scored])),
            0.70,
            0.95,
            "target 16: 85% by session 3 (Hannan et al. 2005; 34 of 40, 95% CI ~.70-.94, derived)",
        ),
    ]
