"""Risk levels by an alert budget: how many assessments a clinic will see flagged.

Clinicians switch off a system that flags almost everyone. The cut-offs of ``moderate`` and
``high`` are therefore chosen on held-out clients for a stated budget (by default ``high``
for at most 15% of session assessments, ``moderate`` for about the next 20%), and what each
level has meant on held-out clients travels with the model: the share of assessments at
it, the share of clients flagged at least once in sessions 1-5, the observed rate of the
outcome among them (PPV) and the share of all outcomes it catches (sensitivity).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from features.vocabulary import RISK_LEVELS

#: Sessions over which "flagged at least once" is counted (the early weeks of a course).
EARLY_SESSIONS = 5


@dataclass(frozen=True)
class AlertBudget:
    """The share of held-out session assessments each level may take.

    Attributes:
        high: at most this share is ``high``.
        moderate: about this share more is ``moderate``.
    """

    high: float = 0.15
    moderate: float = 0.20

    def __post_init__(self) -> None:
        if not (0 < self.high < 1 and 0 <= self.moderate < 1 and self.high + self.moderate < 1):
            raise ValueError("budget shares must lie in (0, 1) and sum to less than 1")


@dataclass(frozen=True)
class LevelSummary:
    """What one risk level meant on held-out clients.

    Attributes:
        share: share of session assessments at this level.
        clients_flagged_early: share of clients at this level or above at least once in
            sessions 1-5 (for ``low``: share never above low there).
        observed_rate: share of the assessments at this level whose client had the outcome.
        sensitivity: share of the outcome's assessments at this level or above.
        assessments: how many held-out assessments the figures rest on.
    """

    share: float
    clients_flagged_early: float
    observed_rate: float
    sensitivity: float
    assessments: int


@dataclass(frozen=True)
class RiskThresholds:
    """Probability cut-offs of the risk levels: below ``moderate`` is low, from ``high`` high.

    Attributes:
        moderate: the lowest probability that is ``moderate``.
        high: the lowest probability that is ``high``.
        rule: how the cut-offs were chosen, in words.
        levels: what each level meant on held-out clients (empty until evaluated).
        base_rate: the outcome's rate among those held-out assessments.
    """

    moderate: float
    high: float
    rule: str
    levels: dict[str, LevelSummary] = field(default_factory=dict)
    base_rate: float | None = None

    def level(self, probability: np.ndarray) -> np.ndarray:
        """Risk level of each probability."""
        index = (probability >= self.moderate).astype(int) + (probability >= self.high)
        return np.asarray(RISK_LEVELS, dtype=object)[index]

    def to_dict(self) -> dict[str, object]:
        """JSON form (kept in the bundle)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> RiskThresholds:
        """Inverse of :meth:`to_dict`."""
        levels = {k: LevelSummary(**v) for k, v in (data.get("levels") or {}).items()}
        return cls(
            moderate=float(data["moderate"]),
            high=float(data["high"]),
            rule=str(data["rule"]),
            levels=levels,
            base_rate=None if data.get("base_rate") is None else float(data["base_rate"]),
        )


def budget_rule(budget: AlertBudget) -> str:
    """The rule of :func:`choose_thresholds`, in words (stored with the model)."""
    return (
        f"high: at most {budget.high:.0%} of held-out session assessments (the cut-off is set "
        "two standard errors of that share inside the budget, so that new clients stay "
        f"within it); moderate: about the next {budget.moderate:.0%}; low: the rest. Chosen "
        "on held-out validation and calibration clients."
    )


def choose_thresholds(
    probability: np.ndarray, clients: np.ndarray, *, budget: AlertBudget
) -> RiskThresholds:
    """Cut-offs that keep ``high`` within the budget on these held-out assessments.

    Args:
        probability: calibrated probabilities of held-out session assessments.
        clients: their client ids (the share's standard error is by client cluster).
        budget: the shares allowed.
    """
    margin = 2 * _cluster_standard_error(budget.high, clients)
    high = _cut_for_share(probability, max(budget.high - margin, 0.5 * budget.high))
    moderate = _cut_for_share(probability, budget.high + budget.moderate)
    moderate = min(moderate, high)
    return RiskThresholds(moderate=float(moderate), high=float(high), rule=budget_rule(budget))


def _cut_for_share(probability: np.ndarray, share: float) -> float:
    """The lowest cut-off at or above which at most ``share`` of the probabilities lie."""
    ordered = np.sort(np.asarray(probability, dtype=float))
    allowed = int(np.floor(share * len(ordered)))
    if allowed <= 0:
        return float(np.nextafter(ordered[-1], np.inf))
    cut = ordered[len(ordered) - allowed]
    if np.mean(ordered >= cut) > share:  # ties at the cut would take more than the share
        cut = np.nextafter(cut, np.inf)
    return float(cut)


def _cluster_standard_error(share: float, clients: np.ndarray) -> float:
    """Standard error of a share of assessments when clients, not rows, are independent."""
    n_clients = len(np.unique(clients))
    rows_per_client = len(clients) / max(n_clients, 1)
    # Rows of one client are strongly alike: count each client about once (a conservative
    # design effect of rows_per_client).
    effective = max(len(clients) / max(rows_per_client, 1.0), 1.0)
    return float(np.sqrt(share * (1 - share) / effective))


def summarise_levels(
    thresholds: RiskThresholds,
    probability: np.ndarray,
    labels: np.ndarray,
    clients: np.ndarray,
    as_of_session: np.ndarray,
) -> RiskThresholds:
    """The thresholds with what each level meant on these held-out assessments."""
    level = thresholds.level(np.asarray(probability, dtype=float))
    rank = pd.Series(level).map({name: i for i, name in enumerate(RISK_LEVELS)}).to_numpy()
    labels = np.asarray(labels, dtype=float)
    early = np.asarray(as_of_session) <= EARLY_SESSIONS
    early_rank = pd.Series(np.where(early, rank, -1)).groupby(np.asarray(clients)).max()
    early_rank = early_rank[early_rank >= 0]
    events = max(labels.sum(), 1.0)
    summaries = {}
    for index, name in enumerate(RISK_LEVELS):
        here = rank == index
        at_or_above = rank >= index
        flagged_early = early_rank >= index if index > 0 else early_rank == 0
        summaries[name] = LevelSummary(
            share=round(float(here.mean()), 4),
            clients_flagged_early=round(float(flagged_early.mean()), 4),
            observed_rate=round(float(labels[here].mean()), 4) if here.any() else float("nan"),
            sensitivity=round(float(labels[at_or_above].sum() / events), 4),
            assessments=int(here.sum()),
        )
    return RiskThresholds(
        moderate=thresholds.moderate,
        high=thresholds.high,
        rule=thresholds.rule,
        levels=summaries,
        base_rate=round(float(labels.mean()), 4),
    )


_WENT_ON_TO = {
    "dropout": "went on to drop out",
    "poor_outcome": "went on to a poor outcome (no reliable recovery, or reliable "
    "deterioration from below the clinical range)",
}


def level_meaning(outcome: str, level: str, thresholds: RiskThresholds) -> str | None:
    """What ``level`` has meant on held-out clients, in whole clients out of 10.

    E.g. "About 5 in 10 clients at high risk went on to drop out; across all clients it was
    2 in 10." None when the model carries no such figures (trained before they were kept).
    """
    summary = thresholds.levels.get(level)
    if summary is None or thresholds.base_rate is None or np.isnan(summary.observed_rate):
        return None
    return (
        f"About {_in_ten(summary.observed_rate)} in 10 clients at {level} risk "
        f"{_WENT_ON_TO[outcome]} in the "
        f"model's held-out data; across all clients it was {_in_ten(thresholds.base_rate)} in "
        "10."
    )


def _in_ten(rate: float) -> str:
    tenths = rate * 10
    return "fewer than 1" if tenths < 0.5 else f"{tenths:.0f}"
