"""FHIR R4 out: alerts as ``Flag`` resources of the patient, for record systems to show.

A Flag is "a warning about a patient that a clinician should be aware of", which is what an
alert is; unlike a ``Task`` it does not claim that a step is owed by a named owner, so the
service's alert life cycle stays its own. ``open`` and ``acknowledged`` alerts are
``active`` Flags (an acknowledged alert still asks for a response), ``resolved`` and
``dismissed`` ones ``inactive``, their period ending when that step was taken. Every Flag
is validated with the fhir.resources R4B model before it is handed out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.flag import Flag

from service.alerts.checklists import CHECKLISTS
from service.audit import StoredAlert
from service.audit.records import ACTIVE_ALERT_STATES
from service.fhir.codes import (
    ALERT_ID_SYSTEM,
    ALERT_KIND_SYSTEM,
    ASSESSMENT_ID_SYSTEM,
    FLAG_CATEGORY,
)
from service.fhir.outbound import check_bundle_invariants

#: The Flag category of each alert kind (HL7 flag-category).
_CATEGORIES = {"safety": ("safety", "Safety")}
_CLINICAL = ("clinical", "Clinical")


def flag(alert: StoredAlert) -> dict[str, Any]:
    """The alert as a validated R4 Flag about ``Patient/<client id>``."""
    title = CHECKLISTS[alert.kind].title if alert.kind in CHECKLISTS else alert.kind
    if alert.outcome:
        title = f"{title} ({alert.outcome.replace('_', ' ')})"
    category, category_display = _CATEGORIES.get(alert.kind, _CLINICAL)
    period = {"start": alert.raised_at.isoformat()}
    active = alert.state in ACTIVE_ALERT_STATES
    if not active and alert.acted_at is not None:
        period["end"] = alert.acted_at.isoformat()
    resource = {
        "resourceType": "Flag",
        "id": alert.alert_id,
        "identifier": [
            {"system": ALERT_ID_SYSTEM, "value": alert.alert_id},
            {"system": ASSESSMENT_ID_SYSTEM, "value": alert.assessment_id},
        ],
        "status": "active" if active else "inactive",
        "category": [
            {"coding": [{"system": FLAG_CATEGORY, "code": category, "display": category_display}]}
        ],
        "code": {
            "coding": [{"system": ALERT_KIND_SYSTEM, "code": alert.kind, "display": title}],
            "text": f"{title}: {alert.state}",
        },
        "subject": {"reference": f"Patient/{alert.client_id}"},
        "period": period,
        "author": {"display": "dropout-risk"},
    }
    Flag.model_validate(resource)
    return resource


def flag_bundle(alerts: Sequence[StoredAlert], *, timestamp: datetime) -> dict[str, Any]:
    """A validated ``searchset`` Bundle of the alerts' Flags (every one a match)."""
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": timestamp.isoformat(),
        "total": len(alerts),
        "entry": [
            {
                "fullUrl": f"urn:uuid:{alert.alert_id}",
                "resource": flag(alert),
                "search": {"mode": "match"},
            }
            for alert in alerts
        ],
    }
    Bundle.model_validate(bundle)
    problems = check_bundle_invariants(bundle)
    if problems:
        raise ValueError(f"produced an invalid Bundle: {problems}")
    return bundle
