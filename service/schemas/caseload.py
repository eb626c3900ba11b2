"""The caseload as the API shows it (api.md, "Caseload and alerts", revision 2)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from service.caseload import Caseload, CaseloadEntry, RiskNow
from service.schemas.alerts import AlertOut, alert_out
from service.schemas.assessments import RiskLevel, SignalOut


class RiskChangeOut(BaseModel):
    """One outcome's latest estimate and its change since the previous assessment."""

    probability: float = Field(ge=0, le=1)
    risk_level: RiskLevel
    change: float | None = Field(
        description="Probability now minus at the client's previous assessment (0.08: 8 "
        "percentage points up); null at the first."
    )
    top_factor: str | None = Field(description="The strongest factor, in words.")


class TrendPointOut(BaseModel):
    """Both risks as assessed at one session."""

    session: int
    dropout: float
    poor_outcome: float


class CaseloadClientOut(BaseModel):
    """One open episode: assessed, and not reported as ended."""

    client_id: str
    clinic_id: str
    therapist_id: str
    as_of_session: int
    assessment_id: str
    assessed_at: datetime
    urgency: Literal["safety", "high risk", "alerts", "none"] = Field(
        description="Why the client is where they are in the list (most urgent first)."
    )
    dropout: RiskChangeOut
    poor_outcome: RiskChangeOut
    signals: list[SignalOut]
    alerts: list[AlertOut] = Field(description="The client's alerts still open or acknowledged.")
    trend: list[TrendPointOut] = Field(description="Both risks over the episode's sessions.")


class TherapistLoadOut(BaseModel):
    """A therapist's open clients and alerts (the clinic view)."""

    therapist_id: str
    open_clients: int
    alerts: dict[str, int] = Field(description="Active alerts by state.")
    alerts_per_week: dict[str, int] = Field(
        description="Alerts raised for their clients per ISO week (e.g. 2026-W49)."
    )


class CaseloadOut(BaseModel):
    """A therapist's caseload, or the clinic's (``therapist_id`` null) with each load."""

    therapist_id: str | None
    clients: list[CaseloadClientOut]
    therapists: list[TherapistLoadOut] | None = Field(
        default=None, description="The clinic view only: each therapist's load."
    )
    unlisted_alerts: list[AlertOut] = Field(
        default_factory=list,
        description="Active alerts of clients not on this caseload (their episode ended, or "
        "their latest assessment names another therapist): safety first, oldest first.",
    )


def caseload_out(caseload: Caseload, *, protocol: str) -> CaseloadOut:
    """The API's view of a caseload (``protocol``: the service's safety protocol)."""
    return CaseloadOut(
        therapist_id=caseload.therapist_id,
        clients=[_client(entry, protocol=protocol) for entry in caseload.entries],
        therapists=None
        if caseload.therapists is None
        else [TherapistLoadOut(**vars(load)) for load in caseload.therapists],
        unlisted_alerts=[alert_out(a, protocol=protocol) for a in caseload.unlisted_alerts],
    )


def _risk(risk: RiskNow) -> RiskChangeOut:
    return RiskChangeOut(**vars(risk))


def _client(entry: CaseloadEntry, *, protocol: str) -> CaseloadClientOut:
    return CaseloadClientOut(
        client_id=entry.client_id,
        clinic_id=entry.clinic_id,
        therapist_id=entry.therapist_id,
        as_of_session=entry.as_of_session,
        assessment_id=entry.assessment_id,
        assessed_at=entry.assessed_at,
        urgency=entry.urgency,
        dropout=_risk(entry.risks["dropout"]),
        poor_outcome=_risk(entry.risks["poor_outcome"]),
        signals=[SignalOut(**signal) for signal in entry.signals],
        alerts=[alert_out(alert, protocol=protocol) for alert in entry.alerts],
        trend=[TrendPointOut(**vars(point)) for point in entry.trend],
    )
