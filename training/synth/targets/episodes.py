"""Targets on episodes: dropout rate and timing, episode endings, age, attendance.

Targets 1, 2, 12 and 15 of domain.md and the brief's episode mix.
"""

from __future__ import annotations

import numpy as np

from training.synth.targets.check import TargetCheck
from training.synth.targets.extract import Extract

__all__ = ["attendance_checks", "episode_checks", "predictor_checks"]


def episode_checks(*, extract: Extract) -> list[TargetCheck]:
    """Targets 1 and 2 and the brief: dropout rate and timing, how episodes end."""
    dropout = extract.dropout
    termination = extract.clients["termination"]
    last = extract.last_attended()
    is_dropout = dropout == 1
    labelled = ~np.isnan(dropout)
    hazard = {}
    for k in (1, 5):
        at_risk = labelled & (last >= k)
        hazard[k] = np.sum(is_dropout & (last == k)) / max(at_risk.sum(), 1)
    completer_sessions = np.sum(extract.attended[extract.completed], axis=1)
    return [
        TargetCheck(
            "dropout rate (dropout / completed + dropout)",
            float(np.nanmean(dropout)),
            0.20,
            0.30,
            "target 1: ~25-30% naturalistic outpatient (Jankowsky 2024; Bennemann 2022)",
        ),
        TargetCheck(
            "dropouts gone by session 3 (share of dropouts)",
            float(np.mean(last[is_dropout] <= 3)),
            0.40,
            0.65,
            "target 2: ~50% of those who stop do so by session 3 (Barrett 2008)",
        ),
        TargetCheck(
            "dropout hazard after session 1 / after session 5",
            float(hazard[1] / max(hazard[5], 1e-9)),
            1.5,
            10.0,
            "target 2: decreasing hazard over sessions 1-5 (Barrett 2008)",
        ),
        TargetCheck(
            "completers' median attended sessions",
            float(np.median(completer_sessions)),
            6.0,
            12.0,
            "brief; NHS TT mean 6.9 sessions per finished course (psychreg 2019/20)",
        ),
        TargetCheck(
            "referred share of episodes",
            float(np.mean(termination == "referred")),
            0.01,
            0.06,
            "brief: a few percent referred",
        ),
        TargetCheck(
            "ongoing share of episodes (censored at extract)",
            float(np.mean(termination == "ongoing")),
            0.02,
            0.15,
            "brief: some episodes ongoing at the extract date",
        ),
    ]


def predictor_checks(*, extract: Extract) -> list[TargetCheck]:
    """Target 12: younger clients drop out more."""
    age = extract.clients["age"].to_numpy()
    dropout = extract.dropout
    return [
        TargetCheck(
            "dropout rate under 25 / 45 and over",
            float(np.nanmean(dropout[age < 25]) / np.nanmean(dropout[age >= 45])),
            1.1,
            2.5,
            "target 12: younger age increases dropout (Bennemann 2022; Swift & Greenberg 2012)",
        ),
    ]


def attendance_checks(*, extract: Extract) -> list[TargetCheck]:
    """Target 15: missed appointments, and how they foreshadow dropout."""
    booked, attended = extract.booked, extract.attended
    dropout = extract.dropout
    missed_share = 1 - attended.sum() / booked.sum()
    per_client = 1 - attended.sum(axis=1) / booked.sum(axis=1)
    width = booked.shape[1]
    last_booked = width - 1 - np.argmax(booked[:, ::-1], axis=1)
    last_missed = ~attended[np.arange(len(booked)), last_booked]
    return [
        TargetCheck(
            "appointments missed",
            float(missed_share),
            0.10,
            0.14,
            "target 15: 12% of all appointments missed (Davis et al. 2020)",
        ),
        TargetCheck(
            "missed-appointment rate, dropouts / completers",
            float(np.mean(per_client[dropout == 1]) / np.mean(per_client[dropout == 0])),
            1.5,
            6.0,
            "target 15 and 12: missed sessions and irregular attendance increase dropout",
        ),
        TargetCheck(
            "dropouts whose last booked appointment was missed",
            float(np.mean(last_missed[dropout == 1])),
            0.45,
            0.85,
            "target 15 (brief): dropouts miss the last 1-2 appointments before ending",
        ),
    ]
