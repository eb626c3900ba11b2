"""Alerts as the API shows them and the steps that move them on (api.md, revision 2)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from service.alerts.checklists import CHECKLISTS, SAFETY_NOTE
from service.audit import StoredAlert

AlertKind = Literal[
    "safety", "high_risk", "alliance_rupture", "reliable_deterioration", "missed_appointments"
]
AlertState = Literal["open", "acknowledged", "resolved", "dismissed"]

#: The longest note or reason on an alert step (the API and the page alike).
MAX_NOTE_CHARACTERS = 2000


class ChecklistOut(BaseModel):
    """What may help with the alert's problem; for safety, the service's protocol first."""

    title: str
    protocol: str | None = Field(
        default=None, description="Safety only: the service's risk protocol, as configured."
    )
    items: list[str]
    sources: list[str]


class AlertOut(BaseModel):
    """One alert, with its latest step once someone acted on it."""

    alert_id: str
    client_id: str
    clinic_id: str
    therapist_id: str
    assessment_id: str
    kind: AlertKind
    outcome: str | None = Field(description="For high_risk: the outcome at high risk.")
    state: AlertState
    raised_at: datetime
    acted_at: datetime | None = None
    acted_by: str | None = None
    note: str | None = None
    checklist: ChecklistOut


class AlertsOut(BaseModel):
    """Alerts, oldest first."""

    alerts: list[AlertOut]


class AlertNote(BaseModel):
    """Acknowledging or resolving: an optional note (kept with the step)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str | None = Field(default=None, max_length=MAX_NOTE_CHARACTERS)


class AlertDismissal(BaseModel):
    """Dismissing: why, which is required (an empty reason is refused)."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"reason": "Already discussed in today's session."}]},
    )

    reason: str = Field(min_length=1, max_length=MAX_NOTE_CHARACTERS)


def checklist_out(kind: str, *, protocol: str) -> ChecklistOut:
    """The checklist of ``kind``; a safety alert's starts with the configured ``protocol``."""
    checklist = CHECKLISTS.get(kind) or CHECKLISTS["high_risk"]
    if kind != "safety":
        return ChecklistOut(
            title=checklist.title, items=list(checklist.items), sources=list(checklist.sources)
        )
    return ChecklistOut(
        title=checklist.title,
        protocol=protocol,
        items=[SAFETY_NOTE, *checklist.items],
        sources=list(checklist.sources),
    )


def alert_out(alert: StoredAlert, *, protocol: str) -> AlertOut:
    """The API's view of a stored alert."""
    return AlertOut(
        **{name: getattr(alert, name) for name in AlertOut.model_fields if name != "checklist"},
        checklist=checklist_out(alert.kind, protocol=protocol),
    )
