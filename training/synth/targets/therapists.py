"""Targets on therapists: their share of alliance and outcome variance.

Target 14 of domain.md.
"""

from __future__ import annotations

import numpy as np

from training.synth.targets.check import TargetCheck
from training.synth.targets.extract import Extract
from training.synth.targets.statistics import icc, last_valid

__all__ = ["therapist_checks"]


def therapist_checks(*, extract: Extract) -> list[TargetCheck]:
    """Target 14: therapists' share of alliance and outcome variance."""
    therapist = extract.clients["therapist_id"].to_numpy(dtype=object)
    alliance = extract.client_alliance()
    improvement, _ = extract.outcome_series()
    final = np.where(extract.completed, last_valid(improvement), np.nan)
    return [
        TargetCheck(
            "therapist share of alliance variance (ICC, session 3)",
            icc(alliance[:, 2] if alliance.shape[1] > 2 else alliance[:, 0], therapist),
            0.02,
            0.49,
            "target 14: within-therapist alliance variance exceeds between (Psychother Res 2019)",
        ),
        TargetCheck(
            "therapist share of outcome variance (ICC, completers)",
            icc(final, therapist),
            0.01,
            0.20,
            "target 14: therapist random effect on outcome",
        ),
    ]
