"""What the caseload page shows, worked out from a caseload: words, arrows and numbers.

Direction is always said in words and an arrow (never by colour alone); each client links
to the full report through a signed link; each alert carries the checklist of its kind, a
safety alert's led by the service's own risk protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

from features.vocabulary import OUTCOME_TITLES, OUTCOMES
from service.audit import StoredAlert
from service.caseload import Caseload, CaseloadEntry, RiskNow, TherapistLoad, change_points
from service.reports.links import LinkSigner, report_subject
from service.schemas.alerts import ChecklistOut, checklist_out

URGENCY_WORDS = {
    "safety": "Safety first",
    "high risk": "High risk, rising or not yet acknowledged",
    "alerts": "Open alerts",
    "none": "No alert",
}
ALERT_WORDS = {
    "safety": "Safety signal",
    "high_risk": "High risk",
    "alliance_rupture": "Alliance rupture",
    "reliable_deterioration": "Reliable deterioration",
    "missed_appointments": "Two appointments missed in a row",
}
#: Sparkline size, in SVG units.
_SPARK_WIDTH, _SPARK_HEIGHT = 96, 24


@dataclass(frozen=True)
class RiskCell:
    """One risk of one client: level, percent, and the change in words and an arrow."""

    title: str
    percent: int
    level: str
    arrow: str
    change: str
    trend: str
    sparkline: str


@dataclass(frozen=True)
class AlertItem:
    """One alert with its checklist and what has been done so far."""

    alert_id: str
    title: str
    state: str
    raised: str
    acted: str | None
    checklist: ChecklistOut


@dataclass(frozen=True)
class ClientRow:
    """One open episode on the page."""

    client_id: str
    anchor: str
    therapist_id: str
    as_of_session: int
    urgency: str
    urgency_words: str
    risks: list[RiskCell]
    top_factor: str | None
    signals: list[dict[str, str]]
    alerts: list[AlertItem]
    report_url: str


@dataclass(frozen=True)
class UnlistedAlert:
    """An active alert of a client not on the caseload (see :class:`Caseload`)."""

    client_id: str
    therapist_id: str
    alert: AlertItem


@dataclass(frozen=True)
class CaseloadView:
    """Everything the caseload page shows."""

    heading: str
    rows: list[ClientRow]
    therapists: list[TherapistLoad] | None
    unlisted: list[UnlistedAlert]


def caseload_view(caseload: Caseload, *, links: LinkSigner, protocol: str) -> CaseloadView:
    """The page of a caseload (``protocol``: the service's safety protocol)."""
    heading = (
        f"Caseload of therapist {caseload.therapist_id}"
        if caseload.therapist_id is not None
        else "Caseload of the clinic"
    )
    rows = [_row(entry, links=links, protocol=protocol) for entry in caseload.entries]
    unlisted = [
        UnlistedAlert(alert.client_id, alert.therapist_id, _alert_item(alert, protocol=protocol))
        for alert in caseload.unlisted_alerts
    ]
    return CaseloadView(
        heading=heading, rows=rows, therapists=caseload.therapists, unlisted=unlisted
    )


def _row(entry: CaseloadEntry, *, links: LinkSigner, protocol: str) -> ClientRow:
    trend = {outcome: [getattr(p, outcome) for p in entry.trend] for outcome in OUTCOMES}
    factors = [entry.risks[o] for o in sorted(OUTCOMES, key=lambda o: -entry.risks[o].probability)]
    return ClientRow(
        client_id=entry.client_id,
        anchor="client-" + "".join(c if c.isalnum() else "-" for c in entry.client_id),
        therapist_id=entry.therapist_id,
        as_of_session=entry.as_of_session,
        urgency=entry.urgency.replace(" ", "-"),
        urgency_words=URGENCY_WORDS[entry.urgency],
        risks=[_risk(o, entry.risks[o], trend[o]) for o in OUTCOMES],
        top_factor=next((f.top_factor for f in factors if f.top_factor), None),
        signals=entry.signals,
        alerts=[
            _alert_item(alert, protocol=protocol)
            for alert in sorted(entry.alerts, key=lambda a: a.kind != "safety")
        ],
        report_url=f"/reports/{entry.assessment_id}?"
        + links.query(report_subject(entry.assessment_id)),
    )


def _alert_item(alert: StoredAlert, *, protocol: str) -> AlertItem:
    return AlertItem(
        alert_id=alert.alert_id,
        title=ALERT_WORDS[alert.kind]
        + (f" ({OUTCOME_TITLES[alert.outcome].lower()})" if alert.outcome else ""),
        state=alert.state,
        raised=alert.raised_at.strftime("%d %b %Y, %H:%M UTC"),
        acted=f"{alert.state} by {alert.acted_by}" + (f": {alert.note}" if alert.note else "")
        if alert.acted_by
        else None,
        checklist=checklist_out(alert.kind, protocol=protocol),
    )


def _risk(outcome: str, risk: RiskNow, trend: list[float]) -> RiskCell:
    if risk.change is None:
        arrow, change = "•", "first assessment"
    else:
        points = change_points(risk.change)
        if points > 0:
            arrow, change = "▲", f"up {_points(points)} since the last assessment"
        elif points < 0:
            arrow, change = "▼", f"down {_points(-points)} since the last assessment"
        else:
            arrow, change = "▶", "unchanged since the last assessment"
    return RiskCell(
        title=OUTCOME_TITLES[outcome],
        percent=round(risk.probability * 100),
        level=risk.risk_level,
        arrow=arrow,
        change=change,
        trend=" → ".join(f"{round(p * 100)}%" for p in trend),
        sparkline=_sparkline(trend),
    )


def _points(points: int) -> str:
    return "1 point" if points == 1 else f"{points} points"


def _sparkline(values: list[float]) -> str:
    """A small line of the risk over sessions (decorative: the trend is also in words)."""
    if len(values) < 2:
        return ""
    step = _SPARK_WIDTH / (len(values) - 1)
    points = " ".join(
        f"{index * step:.1f},{(1 - value) * (_SPARK_HEIGHT - 4) + 2:.1f}"
        for index, value in enumerate(values)
    )
    return (
        f'<svg class="spark" aria-hidden="true" focusable="false" '
        f'viewBox="0 0 {_SPARK_WIDTH} {_SPARK_HEIGHT}"><polyline points="{points}"/></svg>'
    )
