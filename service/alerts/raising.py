"""When an assessment raises an alert: the one rule, called wherever assessments are recorded.

An assessment raises an alert for a safety signal, for entering high risk (per outcome), for
an unrepaired alliance rupture, for reliable deterioration and for two missed appointments
in a row. The store raises each only while no alert of the same client and kind is still
active, so repeated high scores do not pile up alerts. :func:`alerts_for` takes the
requests and answers as recorded, so a batch (or a later batching change) calls it once.
"""

from __future__ import annotations

from collections.abc import Sequence

from features.signals import SAFETY_SIGNALS
from features.vocabulary import OUTCOMES
from service.audit import NewAlert
from service.schemas import AssessmentRequest, AssessmentResponse

#: Signals that are a problem of their own for the clinician, by alert kind.
SIGNAL_ALERTS = {
    "alliance_rupture": "alliance_rupture",
    "reliable_deterioration": "reliable_deterioration",
}
#: Missed appointments in a row that raise an alert (one missed session is common).
MISSED_IN_A_ROW = 2


def alerts_for(
    *, requests: Sequence[AssessmentRequest], responses: Sequence[AssessmentResponse]
) -> list[NewAlert]:
    """The alerts a batch of assessments calls for (each request with its answer), before
    deduplication: the store raises each only while no active alert covers it, in the
    assessments' own transaction (:meth:`service.audit.AuditStore.record_with_alerts`)."""
    return [
        alert
        for request, response in zip(requests, responses, strict=True)
        for alert in alerts_of(request=request, response=response)
    ]


def alerts_of(*, request: AssessmentRequest, response: AssessmentResponse) -> list[NewAlert]:
    """The alerts one assessment calls for, most urgent first (before deduplication)."""
    codes = {signal.code for signal in response.signals}
    kinds: list[tuple[str, str | None]] = []
    if codes & set(SAFETY_SIGNALS):
        kinds.append(("safety", None))
    kinds += [
        ("high_risk", outcome)
        for outcome in OUTCOMES
        if getattr(response, outcome).risk_level == "high"
    ]
    kinds += [(kind, None) for code, kind in SIGNAL_ALERTS.items() if code in codes]
    if _missed_in_a_row(request, as_of=response.as_of_session) >= MISSED_IN_A_ROW:
        kinds.append(("missed_appointments", None))
    client = request.client
    return [
        NewAlert(
            clinic_id=client.clinic_id,
            client_id=client.client_id,
            therapist_id=client.therapist_id,
            assessment_id=response.assessment_id,
            kind=kind,
            outcome=outcome,
        )
        for kind, outcome in kinds
    ]


def _missed_in_a_row(request: AssessmentRequest, *, as_of: int) -> int:
    """How many of the latest appointments up to session ``as_of`` were missed in a row."""
    sessions = sorted(
        (s for s in request.sessions if s.session_number <= as_of),
        key=lambda s: s.session_number,
    )
    missed = 0
    for session in reversed(sessions):
        if session.attended:
            break
        missed += 1
    return missed
