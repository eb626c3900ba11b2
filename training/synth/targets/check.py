"""One generator target: what a cohort achieved, and the range its source allows."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["TargetCheck"]


@dataclass(frozen=True)
class TargetCheck:
    """One target: the value the cohort achieved and the range its source allows.

    Attributes:
        name: what is measured, in clinic words.
        achieved: the cohort's value (NaN when the cohort has no data for it).
        low: lowest acceptable value.
        high: highest acceptable value.
        source: domain.md target number and citation.
        passed: whether ``achieved`` lies in ``[low, high]``.
    """

    name: str
    achieved: float
    low: float
    high: float
    source: str
    passed: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "passed", bool(self.low <= self.achieved <= self.high))
