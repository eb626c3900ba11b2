"""The CDS services offered: ``patient-view``, ``appointment-book`` and ``encounter-start``.

All three take the same prefetch, check the same JWT (its ``aud`` the service's own URL),
score the record through the same path (:mod:`service.cds.hook`), answer the same card and
record it, with the service's id, in the audit store; they differ only in the hook that
fires them and so in their context (CDS Hooks 2.0 hook definitions):

* ``patient-view`` (maturity 5): ``userId``, ``patientId``, ``encounterId?``;
* ``appointment-book`` (maturity 1): ``userId``, ``patientId``, ``encounterId?``,
  ``appointments`` (a Bundle of the Appointments being booked);
* ``encounter-start`` (maturity 1): ``userId``, ``patientId``, ``encounterId``.

The appointments being booked are not sessions yet (an Appointment counts only as a
``noshow``), and an Encounter that is starting counts as an attended session only once the
record system holds it as ``arrived`` or ``in-progress`` (docs/fhir.md, "Sessions"): the
score is the client's as of the record when the hook fires.
"""

from __future__ import annotations

from service.cds.prefetch import PREFETCH, SERVICE_ID
from service.cds.schemas import ServiceOut

APPOINTMENT_BOOK_ID = f"{SERVICE_ID}-appointment-book"
"""``POST /cds-services/psychotherapy-risk-appointment-book``."""
ENCOUNTER_START_ID = f"{SERVICE_ID}-encounter-start"
"""``POST /cds-services/psychotherapy-risk-encounter-start``."""

_TITLE = "Psychotherapy dropout and poor-outcome risk"
_RISK = (
    "Calibrated risk that the client drops out of therapy, and that therapy ends without "
    "reliable improvement, with the factors behind each and clinical signals"
)
_USAGE = (
    "The client's Patient, Encounters, no-show Appointments, questionnaire-total "
    "Observations (PHQ-9, GAD-7, SRS, ORS, OQ-45, WAI-SR), PHQ-9/GAD-7 QuestionnaireResponses "
    "and EpisodeOfCare, prefetched or readable on fhirServer with fhirAuthorization."
)

SERVICES: dict[str, ServiceOut] = {
    SERVICE_ID: ServiceOut(
        hook="patient-view",
        id=SERVICE_ID,
        title=_TITLE,
        description=f"{_RISK}.",
        prefetch=PREFETCH,
        usageRequirements=_USAGE,
    ),
    APPOINTMENT_BOOK_ID: ServiceOut(
        hook="appointment-book",
        id=APPOINTMENT_BOOK_ID,
        title=f"{_TITLE}, when booking",
        description=f"{_RISK}, shown while the next appointment is booked.",
        prefetch=PREFETCH,
        usageRequirements=_USAGE,
    ),
    ENCOUNTER_START_ID: ServiceOut(
        hook="encounter-start",
        id=ENCOUNTER_START_ID,
        title=f"{_TITLE}, at the start of a session",
        description=f"{_RISK}, shown as the session starts.",
        prefetch=PREFETCH,
        usageRequirements=_USAGE,
    ),
}
"""Every service by id, in discovery order."""
