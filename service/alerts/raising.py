"""When an assessment raises an alert: the one rule, called wherever assessments are recorded.

An assessment raises an alert for a safety signal, for entering high risk (per outcome), for
an unrepaired alliance rupture, for reliable deterioration and for two missed appointments
in a row. The store raises each only while no alert of the same client and kind is still
active, so repeated high scores do not pile up alerts. :func:`raise_alerts` takes the
requests and answers as recorded, so a batch (or a later batching change) calls it once.
"""

from __future__ import annotations

from collections.abc import Sequence

from features.signals import SAFETY_SIGNALS
from features.vocabulary import OUTCOMES
from service.audit import AuditStore, NewAlert, StoredAlert
from service.schemas import AssessmentRequest, AssessmentResponse

#: Signals that are a problem of their own for the clinician, by alert kind.
SIGNAL_ALERTS = {
    "alliance_rupture": "alliance_rupture",
    "reliable_deterioration": "reliable_deterioration",
}
#: Missed appointments in a row that raise an alert (one missed session is common).
MISSED_IN_A_ROW = 2


def raise_alerts(
    *,
    audit: AuditStore,
    requests: Sequence[AssessmentRequest],
    responses: Sequence[AssessmentResponse],
) -> list[StoredAlert]:
    """Raise the alerts of recorded assessments (each request with its answer).

    Returns:
        The alerts raised now; those an active alert already covers are not raised again.

    Raises:
        AuditUnavailableError: The alerts were not committed.
    """
    candidates = [
        alert
        for request, response in zip(requests, responses, strict=True)
        for alert in alerts_of(request=request, response=response)
    ]
    return audit.alerts.raise_alerts(candidates)


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
