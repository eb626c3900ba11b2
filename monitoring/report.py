"""Monitoring a model in production from its audit trail.

For each model version and time window of stored assessments: the score distribution,
input drift against the training population (:mod:`monitoring.drift`), and, for clients whose
episode has ended and been reported through ``POST /v1/outcomes``, realised discrimination
and calibration with client-cluster bootstrap intervals. Thresholds turn these into alerts.

It reads the stored records of :mod:`monitoring.records` (what the audit store returns), so
it imports nothing of the service. Labels come from the same
reconstruction as ``dropout-risk export`` and the contract's label rules, so a realised
AUROC here is the AUROC a retraining on the export would see.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from pydantic import BaseModel

from features.vocabulary import OUTCOMES, RISK_LEVELS
from models.metrics import bootstrap_metrics
from models.profile import score_binned
from monitoring.alerts import AlertThresholds, MonitoringAlert, window_alerts
from monitoring.drift import Drift, drift_against
from monitoring.labels import outcome_labels
from monitoring.ledger import AssessmentLedger, MonitoredAssessment
from monitoring.records import StoredAssessment, StoredOutcome

REALISED_METRICS = ("auroc", "brier", "calibration_in_the_large")


@dataclass
class WindowReport:
    """What one model version did in one time window."""

    model_version: str
    start: datetime
    end: datetime
    assessments: int
    clients: int
    scores: dict[str, dict[str, Any]]
    drift: dict[str, Any] | None
    drift_note: str | None
    realised: dict[str, dict[str, Any] | None]


@dataclass
class MonitoringReport:
    """The whole report: every (version, window), and the alerts they raised."""

    generated_at: datetime
    since: datetime | None
    until: datetime | None
    window_days: float | None
    thresholds: AlertThresholds
    windows: list[WindowReport] = field(default_factory=list)
    alerts: list[MonitoringAlert] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (datetimes as ISO 8601 text, NaN as None)."""
        return _jsonable(asdict(self))


@dataclass
class _Group:
    """Assessments of one (version, window), gathered in one pass over the ledger."""

    features: list[np.ndarray] = field(default_factory=list)
    clients: list[str] = field(default_factory=list)
    probability: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    level: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def gather(self, entry: MonitoredAssessment) -> None:
        self.features.append(entry.features)
        self.clients.append(entry.client_id)
        for outcome, probability, level in zip(
            OUTCOMES, entry.probability, entry.risk_level, strict=True
        ):
            self.probability[outcome].append(probability)
            self.level[outcome].append(level)


def monitor(
    assessments: Iterable[StoredAssessment],
    outcomes: Iterable[StoredOutcome],
    *,
    references: Mapping[str, Mapping[str, Any] | None],
    since: datetime | None = None,
    until: datetime | None = None,
    window: timedelta | None = None,
    thresholds: AlertThresholds | None = None,
    replicates: int = 200,
    seed: int = 0,
) -> MonitoringReport:
    """Monitor stored assessments (created in [since, until)) per model version and window.

    Records are taken in time order (ties by id), as the audit store streams them; a record
    passed twice counts once.

    Args:
        assessments: Stored assessments, any order; only those in [since, until) count.
        outcomes: Every outcome report (outcomes arrive long after the assessments).
        references: Training profile (``metadata["reference"]`` of the bundle) per model
            version; a version missing here gets no drift section, with a note saying why.
        since: Start of the monitored period (default: the first assessment).
        until: End of the monitored period (default: now).
        window: Length of each window (default: the whole period is one window).
        thresholds: Alert thresholds (default :class:`AlertThresholds`).
        replicates: Bootstrap replicates for the realised metrics' intervals.
        seed: Seed of the bootstrap.
    """
    ledger = AssessmentLedger()
    ledger.add(
        record
        for record in assessments
        if (since is None or record.created_at >= since)
        and (until is None or record.created_at < until)
    )
    return ledger_report(
        ledger,
        outcomes,
        references=references,
        since=since,
        until=until,
        window=window,
        thresholds=thresholds,
        replicates=replicates,
        seed=seed,
    )


def ledger_report(
    ledger: AssessmentLedger,
    outcomes: Iterable[StoredOutcome],
    *,
    references: Mapping[str, Mapping[str, Any] | None],
    since: datetime | None = None,
    until: datetime | None = None,
    window: timedelta | None = None,
    thresholds: AlertThresholds | None = None,
    replicates: int = 200,
    seed: int = 0,
) -> MonitoringReport:
    """The report of every assessment ``ledger`` holds, which the caller has kept to the
    period [since, until); the arguments are :func:`monitor`'s."""
    thresholds = thresholds or AlertThresholds()
    groups: dict[tuple[str, int], _Group] = defaultdict(_Group)
    origin = since
    for entry in ledger.entries():
        created = entry.created_at
        if origin is None:
            # Without a start, windows are counted from the first assessment's midnight (UTC).
            origin = datetime.combine(created.astimezone(UTC).date(), datetime.min.time(), UTC)
        index = int((created - origin) / window) if window else 0
        groups[(entry.model_version, index)].gather(entry)
    labels = outcome_labels(ledger.latest(), outcomes)
    report = MonitoringReport(
        generated_at=datetime.now(UTC),
        since=since,
        until=until,
        window_days=window / timedelta(days=1) if window else None,
        thresholds=thresholds,
    )
    period_end = until or report.generated_at
    for (version, index), group in sorted(
        groups.items(), key=lambda item: (item[0][1], item[0][0])
    ):
        start = origin + index * window if window else origin
        end = min(start + window, period_end) if window else period_end
        section = _window_report(
            version, start, end, group, references.get(version), labels, replicates, seed
        )
        report.windows.append(section)
        report.alerts.extend(window_alerts(section, thresholds))
    return report


def _window_report(
    version: str,
    start: datetime,
    end: datetime,
    group: _Group,
    reference: Mapping[str, Any] | None,
    labels: Mapping[str, Mapping[str, float]],
    replicates: int,
    seed: int,
) -> WindowReport:
    probability = {o: np.asarray(group.probability[o]) for o in OUTCOMES}
    drift, note = None, None
    if reference is None:
        note = f"no training profile for version {version} (trained before monitoring existed?)"
    else:
        features = np.stack(group.features)
        drift = _drift_section(drift_against(reference, features, probability))
        drift["reference_scores"] = reference["scores"]
    clients = np.asarray(group.clients, dtype=object)
    realised = {
        outcome: _realised(
            clients, probability[outcome], labels[outcome], replicates=replicates, seed=seed
        )
        for outcome in OUTCOMES
    }
    return WindowReport(
        model_version=version,
        start=start,
        end=end,
        assessments=len(clients),
        clients=len(set(group.clients)),
        scores={o: _score_summary(probability[o], group.level[o]) for o in OUTCOMES},
        drift=drift,
        drift_note=note,
        realised=realised,
    )


def _score_summary(probability: np.ndarray, levels: list[str]) -> dict[str, Any]:
    p10, p50, p90 = np.quantile(probability, [0.1, 0.5, 0.9])
    counts = {level: levels.count(level) for level in RISK_LEVELS}
    return {
        "mean": float(probability.mean()),
        "p10": float(p10),
        "median": float(p50),
        "p90": float(p90),
        "risk_levels": {level: count / len(levels) for level, count in counts.items()},
        "histogram": score_binned(probability).to_dict(),
    }


def _drift_section(drift: Drift) -> dict[str, Any]:
    return {
        "scores": drift.scores,
        "availability": drift.availability,
        "features": drift.features,
        "largest": [{"name": name, "psi": value} for name, value in drift.largest()],
    }


def _realised(
    clients: np.ndarray,
    probability: np.ndarray,
    labels: Mapping[str, float],
    *,
    replicates: int,
    seed: int,
) -> dict[str, Any] | None:
    """Realised metrics of the assessments whose client has a label (None if none has)."""
    label = np.array([labels.get(client, np.nan) for client in clients], dtype=float)
    known = ~np.isnan(label)
    if not known.any():
        return None
    y, p = label[known], probability[known]
    stats = bootstrap_metrics(y, p, clients[known], replicates=replicates, seed=seed)
    return {
        "labelled": int(known.sum()),
        "clients": len(set(clients[known])),
        "events": int(y.sum()),
        "mean_predicted": float(p.mean()),
        "observed_rate": float(y.mean()),
        **{name: stats[name] for name in REALISED_METRICS},
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return _jsonable(value.model_dump())
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
