"""Targets on measurement: test-retest reliability of the session-by-session measures.

Target 11 of domain.md.
"""

from __future__ import annotations

from training.synth.targets.check import TargetCheck
from training.synth.targets.extract import Extract
from training.synth.targets.statistics import correlation

__all__ = ["reliability_checks"]


def reliability_checks(*, extract: Extract) -> list[TargetCheck]:
    """Target 11: test-retest reliability of ORS and SRS (sessions 1 and 2)."""
    return [
        TargetCheck(
            "ORS test-retest r (sessions 1 and 2)",
            correlation(extract.scores["ors"][:, 0], extract.scores["ors"][:, 1]),
            0.61,
            0.84,
            "target 11: ORS test-retest .61-.84 (Moggia et al. 2018)",
        ),
        TargetCheck(
            "SRS test-retest r (sessions 1 and 2)",
            correlation(extract.scores["srs"][:, 0], extract.scores["srs"][:, 1]),
            0.54,
            0.70,
            "target 11: SRS test-retest .54-.70 (SRS review 2020)",
        ),
    ]
