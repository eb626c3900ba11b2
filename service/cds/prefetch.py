"""What the ``patient-view`` service needs from the record, and how the EHR's prefetch is read.

The service asks for six FHIR queries (advertised in discovery as prefetch templates): the
patient, the questionnaire totals and items, the encounters, the missed appointments, the
questionnaire responses and the episodes of care. The EHR may send any of them already
answered; each one it did not (or answered with an error) is fetched from its FHIR server
instead (:mod:`service.cds.fetch`); the last two (:data:`OPTIONAL`) are skipped when there is
no FHIR server to ask.

Reading one prefetch value (CDS Hooks 2.0 §prefetch): ``null`` is a query answered with no
data; a searchset Bundle gives its entries (skipping ``search.mode = outcome`` entries and
OperationOutcomes) and may continue at ``link[relation=next]``; a resource is itself; an
OperationOutcome, or anything else, means the EHR could not answer and the query is
fetched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from service.fhir.codes import LOINC, MEASURES
from service.fhir.questionnaires import ITEM_CODES, SELF_HARM_CODE

SERVICE_ID = "psychotherapy-risk"
"""The id of our one CDS service (``POST /cds-services/psychotherapy-risk``)."""
PAGE_SIZE = 100
"""``_count`` asked of each search; later pages are followed."""

_OBSERVATION_CODES = ",".join(
    [f"{m.system}|{m.code}" for m in MEASURES]
    + [f"{LOINC}|{code}" for code in ITEM_CODES if code != SELF_HARM_CODE]
)

PREFETCH: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "observations": (
        f"Observation?patient={{{{context.patientId}}}}&code={_OBSERVATION_CODES}"
        f"&_count={PAGE_SIZE}"
    ),
    "encounters": f"Encounter?patient={{{{context.patientId}}}}&_count={PAGE_SIZE}",
    "appointments": (
        f"Appointment?patient={{{{context.patientId}}}}&status=noshow&_count={PAGE_SIZE}"
    ),
    "questionnaireResponses": (
        f"QuestionnaireResponse?patient={{{{context.patientId}}}}&_count={PAGE_SIZE}"
    ),
    "episodesOfCare": f"EpisodeOfCare?patient={{{{context.patientId}}}}&_count={PAGE_SIZE}",
}
"""Prefetch templates by key, as advertised in discovery."""
OPTIONAL: frozenset[str] = frozenset({"questionnaireResponses", "episodesOfCare"})
"""Keys whose data the service can do without: fetched when prefetch lacks them and the
FHIR server is open to us, else left out (PHQ-9/GAD-7 may come as Observations, and the
intake date falls back to the first session), so that a record system that does not prefetch
them and lends no token still gets a card."""


@dataclass(frozen=True)
class Answer:
    """One query's answer as prefetched: its resources, and where it continues, if it does."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    next_url: str | None = None


def render(template: str, *, patient_id: str) -> str:
    """A prefetch template as the relative FHIR query for this patient."""
    return template.replace("{{context.patientId}}", quote(patient_id, safe=""))


def read_prefetched(value: Any) -> Answer | None:
    """The answer a prefetch value holds, None when it holds none (an error, or junk).

    Args:
        value: The value of one prefetch key, as parsed from the request's JSON.
    """
    if value is None:
        return Answer()  # the query was run and found nothing
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return None
    if value["resourceType"] == "OperationOutcome":
        return None
    if value["resourceType"] == "Bundle":
        return read_bundle(value)
    return Answer(resources=[value])


def read_bundle(bundle: dict[str, Any]) -> Answer | None:
    """The resources of a searchset Bundle and its next page's URL; None if it is malformed."""
    entries = bundle.get("entry", [])
    links = bundle.get("link", [])
    if not isinstance(entries, list) or not isinstance(links, list):
        return None
    resources = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            return None
        search = entry.get("search")
        mode = search.get("mode") if isinstance(search, dict) else None
        resource = entry["resource"]
        if mode == "outcome" or resource.get("resourceType") == "OperationOutcome":
            continue  # the server's remarks on the search, not data
        resources.append(resource)
    next_url = next(
        (
            link.get("url")
            for link in links
            if isinstance(link, dict) and link.get("relation") == "next"
        ),
        None,
    )
    if next_url is not None and not isinstance(next_url, str):
        return None
    return Answer(resources=resources, next_url=next_url)
