"""The caseload: who a clinician needs to think about today, most urgent first.

One entry per open episode of the caller's clinics: a client assessed, and not reported as
ended (``POST /v1/outcomes`` with a termination other than ``ongoing``) since; a client
assessed again after an ending has a new episode. Each entry holds the client's latest
assessment, the change of each risk since the previous assessment of the episode, its
trend, its signals and its active alerts. The order follows what a clinician must do first:
safety, then high risk that is rising or not yet acknowledged, then other alerts, then the
higher risk.
The JSON API and the HTML page both read this, so they cannot disagree.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from features.signals import SAFETY_SIGNALS
from features.vocabulary import OUTCOMES
from service.audit import AuditStore, ScorePoint, StoredAlert, StoredAssessment
from service.audit.records import ACTIVE_ALERT_STATES

#: The urgency of an entry, in the order a clinician should attend to them.
URGENCIES = ("safety", "high risk", "alerts", "none")
#: Weeks of alert burden the clinic view counts back from the latest alert.
BURDEN_WEEKS = 8


@dataclass(frozen=True)
class RiskNow:
    """One outcome's latest estimate, and how it moved since the previous assessment.

    Attributes:
        probability: The calibrated probability.
        risk_level: ``low``, ``moderate`` or ``high``.
        change: The difference in probability from the previous assessment of the episode
            (0.08: 8 percentage points up); None at its first assessment.
        top_factor: The strongest factor behind the estimate, in words; None if none.
    """

    probability: float
    risk_level: str
    change: float | None
    top_factor: str | None


@dataclass(frozen=True)
class TrendPoint:
    """Both risks as assessed at one session."""

    session: int
    dropout: float
    poor_outcome: float


@dataclass(frozen=True)
class CaseloadEntry:
    """One open episode, as of its latest assessment."""

    client_id: str
    clinic_id: str
    therapist_id: str
    as_of_session: int
    assessment_id: str
    assessed_at: datetime
    urgency: str
    risks: dict[str, RiskNow]
    signals: list[dict[str, str]]
    alerts: list[StoredAlert]
    trend: list[TrendPoint]


@dataclass(frozen=True)
class TherapistLoad:
    """A therapist's share of the clinic's work (the clinic view, for supervisors).

    Attributes:
        therapist_id: The therapist.
        open_clients: Their open episodes.
        alerts: Their active alerts by state (``open``, ``acknowledged``).
        alerts_per_week: Alerts raised for their clients by ISO week (``2026-W49``), of the
            last :data:`BURDEN_WEEKS` weeks with alerts, oldest first.
    """

    therapist_id: str
    open_clients: int
    alerts: dict[str, int]
    alerts_per_week: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Caseload:
    """A caseload: a therapist's (``therapist_id``), or the whole clinic's (None).

    ``unlisted_alerts`` are the active alerts of clients who are not on it (their episode
    ended, or their latest assessment names another therapist): an alert someone still has
    to attend to never vanishes from the page that raised it. Safety first, oldest first.
    """

    therapist_id: str | None
    entries: list[CaseloadEntry]
    therapists: list[TherapistLoad] | None
    unlisted_alerts: list[StoredAlert] = field(default_factory=list)


def read_caseload(
    audit: AuditStore, *, clinics: frozenset[str] | None, therapist_id: str | None
) -> Caseload:
    """The open episodes of ``clinics`` (None: every clinic), most urgent first.

    Args:
        audit: The audit store.
        clinics: The caller's clinics.
        therapist_id: Only this therapist's clients (their latest assessment names them);
            None for the clinic view, which adds each therapist's load.

    Raises:
        AuditUnavailableError: The database could not be read.
    """
    episodes = _open_episodes(audit, clinics=clinics)
    # Only each open episode's latest answer is read whole: the trends need the scores alone.
    latest = {
        record.assessment_id: record
        for record in audit.assessments_with_ids(
            [points[-1].assessment_id for points in episodes.values()], clinics=clinics
        )
    }
    every_alert = audit.alerts.alerts(clinics=clinics)
    active: dict[tuple[str, str], list[StoredAlert]] = defaultdict(list)
    for alert in every_alert:
        if alert.state in ACTIVE_ALERT_STATES:
            active[(alert.clinic_id, alert.client_id)].append(alert)
    entries = [
        _entry(points, latest[points[-1].assessment_id], active.get(key, []))
        for key, points in episodes.items()
        # An assessment erased since the scores were read is not listed.
        if points[-1].assessment_id in latest
        and (therapist_id is None or _therapist(latest[points[-1].assessment_id]) == therapist_id)
    ]
    entries.sort(key=_urgency_order)
    listed = {(entry.clinic_id, entry.client_id) for entry in entries}
    unlisted = sorted(
        (
            alert
            for key, alerts in active.items()
            if key not in listed
            for alert in alerts
            if therapist_id is None or alert.therapist_id == therapist_id
        ),
        key=lambda alert: (alert.kind != "safety", alert.raised_at, alert.alert_id),
    )
    if therapist_id is not None:
        return Caseload(
            therapist_id=therapist_id, entries=entries, therapists=None, unlisted_alerts=unlisted
        )
    return Caseload(
        therapist_id=None,
        entries=entries,
        therapists=_loads(entries, every_alert),
        unlisted_alerts=unlisted,
    )


def _open_episodes(
    audit: AuditStore, *, clinics: frozenset[str] | None
) -> dict[tuple[str, str], list[ScorePoint]]:
    """Each open episode's assessments (their scores), oldest first, by clinic and client."""
    episodes: dict[tuple[str, str], list[ScorePoint]] = defaultdict(list)
    for point in audit.open_episode_points(clinics=clinics):
        episodes[(point.clinic_id, point.client_id)].append(point)
    return dict(episodes)


def _therapist(assessment: StoredAssessment) -> str:
    return str(assessment.request.get("client", {}).get("therapist_id", ""))


def _entry(
    points: list[ScorePoint], latest: StoredAssessment, alerts: list[StoredAlert]
) -> CaseloadEntry:
    """The entry of an episode: its scores, oldest first, and its latest answer whole."""
    previous = points[-2] if len(points) > 1 else None
    response = latest.response
    risks = {outcome: _risk(response, previous, outcome) for outcome in OUTCOMES}
    signals = [dict(signal) for signal in response.get("signals", [])]
    trend = [
        TrendPoint(
            session=int(point.as_of_session),
            dropout=float(point.dropout),
            poor_outcome=float(point.poor_outcome),
        )
        for point in points
    ]
    return CaseloadEntry(
        client_id=latest.client_id,
        clinic_id=latest.clinic_id,
        therapist_id=_therapist(latest),
        as_of_session=int(latest.as_of_session),
        assessment_id=latest.assessment_id,
        assessed_at=latest.created_at,
        urgency=_urgency(risks, signals, alerts),
        risks=risks,
        signals=signals,
        alerts=alerts,
        trend=trend,
    )


def _risk(response: dict[str, Any], previous: ScorePoint | None, outcome: str) -> RiskNow:
    now = response[outcome]
    probability = float(now["probability"])
    change = None
    if previous is not None:
        change = round(probability - float(getattr(previous, outcome)), 4)
    factors = now.get("factors") or []
    return RiskNow(
        probability=probability,
        risk_level=str(now["risk_level"]),
        change=change,
        top_factor=factors[0].get("text") if factors else None,
    )


def change_points(change: float) -> int:
    """A change of probability in whole percentage points, as the page prints it."""
    return round(change * 100)


def _urgency(
    risks: dict[str, RiskNow],
    signals: list[dict[str, str]],
    alerts: list[StoredAlert],
) -> str:
    if any(s.get("code") in SAFETY_SIGNALS for s in signals) or any(
        a.kind == "safety" for a in alerts
    ):
        return "safety"
    # "New" is a high-risk alert nobody has acknowledged yet; "rising" must agree with the
    # row's arrow: up by at least the 1 point the page shows.
    new_high = {a.outcome for a in alerts if a.kind == "high_risk" and a.state == "open"}
    for outcome, risk in risks.items():
        rising = risk.change is None or change_points(risk.change) >= 1
        if risk.risk_level == "high" and (rising or outcome in new_high):
            return "high risk"
    return "alerts" if alerts else "none"


def _urgency_order(entry: CaseloadEntry) -> tuple[int, float, float, str]:
    tier = URGENCIES.index(entry.urgency)
    if entry.urgency == "safety":
        # Safety is never ranked by the model's estimate: the longest waiting comes first
        # (the oldest open safety alert, else the assessment that showed the signal).
        raised = [a.raised_at for a in entry.alerts if a.kind == "safety"]
        since = min(raised) if raised else entry.assessed_at
        return tier, since.timestamp(), 0.0, entry.client_id
    highest = max(risk.probability for risk in entry.risks.values())
    return tier, 0.0, -highest, entry.client_id


def _loads(entries: list[CaseloadEntry], alerts: Iterable[StoredAlert]) -> list[TherapistLoad]:
    clients = Counter(entry.therapist_id for entry in entries)
    states: dict[str, Counter[str]] = defaultdict(Counter)
    weeks: dict[str, Counter[str]] = defaultdict(Counter)
    for alert in alerts:
        if alert.state in ACTIVE_ALERT_STATES:
            states[alert.therapist_id][alert.state] += 1
        year, week, _ = alert.raised_at.isocalendar()
        weeks[alert.therapist_id][f"{year}-W{week:02d}"] += 1
    return [
        TherapistLoad(
            therapist_id=therapist,
            open_clients=clients.get(therapist, 0),
            alerts={state: states[therapist][state] for state in ACTIVE_ALERT_STATES},
            alerts_per_week=dict(sorted(weeks[therapist].items())[-BURDEN_WEEKS:]),
        )
        for therapist in sorted(set(clients) | set(states) | set(weeks))
    ]
