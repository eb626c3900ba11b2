"""The promotion gate: may a newly trained version serve in place of the champion?

Judged on the held-out test clients of the run (the same clients in every retraining, so
the champion is judged on data neither model was trained on), per outcome:

* **Enough to judge.** At least :attr:`GateSettings.min_events` outcomes and as many
  non-outcomes among the held-out assessments (validation studies need about 100 events
  and 100 non-events for stable calibration and discrimination estimates: Vergouwe et al.
  2005; Collins et al. 2016). Below that the gate refuses and says the cohort is too small
  to judge.
* **Calibration.** The point estimates of ECE and the calibration slope meet their limits.
  An interval that overlaps a limit never rescues a miss.
* **Calibration in every subgroup that has enough data** (age band, gender, presenting
  concern, clinic; each with at least ``min_events`` events and non-events): observed minus
  predicted rate within :attr:`GateSettings.subgroup_calibration_gap`.
* **No worse than the champion.** AUROC not below the champion's by more than the
  tolerance, on the same clients.

A refused version is still registered (and ``train`` exits 0); an operator may promote it
anyway with an explicit, recorded override (``train --override-gate REASON``: who, why,
in the run, the model card and the served model's metadata), for demo, test and bench
cohorts. The gate is never loosened for them.
"""

from __future__ import annotations

import getpass
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from features.engineering import FEATURE_INDEX
from features.vocabulary import GENDERS, OUTCOMES, PRIMARY_CONCERNS
from models.bundle import RiskModel
from models.metrics import point_metrics
from training.evaluation import age_band
from training.held_out import HeldOut
from training.settings import GateSettings


@dataclass(frozen=True)
class Override:
    """A refused version promoted on purpose: by whom, when and why."""

    reason: str
    user: str
    at: str

    @classmethod
    def now(cls, reason: str) -> Override:
        return cls(reason=reason, user=_user(), at=datetime.now(UTC).isoformat(timespec="seconds"))


@dataclass(frozen=True)
class GateVerdict:
    """What the gate decided, and why, line by line.

    Attributes:
        passed: whether every check passed.
        reasons: one line per check, with its figures and limit.
        basis: ``no champion yet`` or ``compared with the champion``.
        override: the recorded override when a refused version was promoted anyway.
    """

    passed: bool
    reasons: list[str]
    basis: str
    override: Override | None = field(default=None)

    @property
    def promoted(self) -> bool:
        """Whether the version becomes the champion."""
        return self.passed or self.override is not None

    @property
    def verdict(self) -> str:
        """``passed``, ``refused`` or ``refused, promoted by override``."""
        if self.passed:
            return "passed"
        return "refused, promoted by override" if self.override else "refused"

    def summary(self) -> str:
        """One line: the verdict, its basis and every reason."""
        text = f"{self.verdict} ({self.basis}): " + "; ".join(self.reasons)
        if self.override is not None:
            text += (
                f"; override by {self.override.user} at {self.override.at}: {self.override.reason}"
            )
        return text

    def to_dict(self) -> dict[str, object]:
        """JSON form (the bundle's metadata and ``GET /v1/models/current``)."""
        return asdict(self) | {"verdict": self.verdict}


def judge(
    challenger: RiskModel,
    champion: RiskModel | None,
    held_out: dict[str, HeldOut],
    settings: GateSettings,
    *,
    override: str | None = None,
) -> GateVerdict:
    """The gate's verdict on ``challenger`` (module docstring), with any override recorded."""
    reasons: list[str] = []
    passed = True
    for outcome in OUTCOMES:
        data = held_out[outcome]
        events = int(data.labels.sum())
        non_events = int(len(data.labels) - events)
        if min(events, non_events) < settings.min_events:
            reasons.append(
                f"{outcome}: cohort too small to judge ({events} outcomes and {non_events} "
                f"non-outcomes among held-out assessments; at least {settings.min_events} "
                "of each are needed)"
            )
            passed = False
            continue
        probability = challenger.outcome_model(outcome).probability(data.features)
        ok, lines = _calibrated(outcome, data, probability, settings)
        passed &= ok
        reasons += lines
        if champion is not None:
            new = point_metrics(data.labels, probability)["auroc"]
            old = point_metrics(
                data.labels, champion.outcome_model(outcome).probability(data.features)
            )["auroc"]
            good = new >= old - settings.auroc_tolerance
            passed &= good
            reasons.append(
                f"{outcome}: AUROC {new:.3f} vs champion {old:.3f} (tolerance "
                f"{settings.auroc_tolerance}) {_mark(good)}"
            )
    basis = "no champion yet" if champion is None else "compared with the champion"
    chosen = Override.now(override) if override and not passed else None
    return GateVerdict(passed=passed, reasons=reasons, basis=basis, override=chosen)


def _calibrated(
    outcome: str, data: HeldOut, probability: np.ndarray, settings: GateSettings
) -> tuple[bool, list[str]]:
    metrics = point_metrics(data.labels, probability)
    ece, slope = metrics["ece"], metrics["calibration_slope"]
    low, high = settings.calibration_slope_range
    ece_ok, slope_ok = ece <= settings.max_ece, low <= slope <= high
    lines = [
        f"{outcome}: ECE {ece:.3f} (max {settings.max_ece}) {_mark(ece_ok)}",
        f"{outcome}: calibration slope {slope:.2f} (allowed {low}-{high}) {_mark(slope_ok)}",
    ]
    worst = _worst_subgroup(data, probability, settings.min_events)
    subgroups_ok = True
    if worst is not None:
        name, gap = worst
        subgroups_ok = abs(gap) <= settings.subgroup_calibration_gap
        lines.append(
            f"{outcome}: largest subgroup calibration gap {gap:+.3f} observed minus predicted "
            f"({name}; max {settings.subgroup_calibration_gap}) {_mark(subgroups_ok)}"
        )
    return ece_ok and slope_ok and subgroups_ok, lines


def subgroups(data: HeldOut) -> dict[str, np.ndarray]:
    """The subgroup of every held-out row, by grouping (age band, gender, concern, clinic)."""
    features = data.features
    ages = pd.Series(features[:, FEATURE_INDEX["age"]])
    gender = np.array(GENDERS, dtype=object)[
        np.argmax(features[:, [FEATURE_INDEX[f"gender_{g}"] for g in GENDERS]], axis=1)
    ]
    concern = np.array(PRIMARY_CONCERNS, dtype=object)[
        np.argmax(features[:, [FEATURE_INDEX[f"concern_{c}"] for c in PRIMARY_CONCERNS]], axis=1)
    ]
    groups = {
        "age band": age_band(ages).to_numpy(dtype=object),
        "gender": gender,
        "presenting concern": concern,
    }
    if data.clinics is not None:
        groups["clinic"] = np.asarray(data.clinics, dtype=object)
    return groups


def _worst_subgroup(
    data: HeldOut, probability: np.ndarray, min_events: int
) -> tuple[str, float] | None:
    """The subgroup (with enough data) whose observed rate is furthest from the predicted."""
    worst: tuple[str, float] | None = None
    for grouping, values in subgroups(data).items():
        for value in pd.unique(values):
            rows = values == value
            events = data.labels[rows].sum()
            if min(events, rows.sum() - events) < min_events:
                continue
            gap = float(data.labels[rows].mean() - probability[rows].mean())
            if worst is None or abs(gap) > abs(worst[1]):
                worst = (f"{grouping} {value}", gap)
    return worst


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISS"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "unknown"
