"""FHIR R4 in: a Bundle (or loose resources) of one client becomes the JSON API's request.

The Patient gives the client row (its EpisodeOfCare the intake date), the episode's
Encounters and no-show Appointments the sessions, and questionnaire-total Observations,
PHQ-9/GAD-7 QuestionnaireResponses and item Observations the measures (docs/fhir.md has every
rule).
The result is an :class:`AssessmentRequest`, checked by the same pydantic model as the JSON
API, so both are scored by one path. Anything wrong is raised as one :class:`FhirInputError`
listing every problem at its FHIR path; malformed input never raises anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from service.errors import field_path
from service.fhir._client import Provenance, client_row
from service.fhir._episodes import intake_of
from service.fhir._resources import Located, ReferenceIndex, parse_resources
from service.fhir._sessions import Visit, fill_measures, read_visits
from service.fhir.issues import FhirInputError, FhirIssue, model_issues, raise_issues
from service.fhir.questionnaires import apply_questionnaires, is_item_observation
from service.schemas import MAX_SESSIONS, AssessmentRequest

#: Bundle types that carry a client's record: a collection, or a search result (CDS prefetch).
BUNDLE_TYPES = frozenset({"collection", "searchset"})
#: Entries read per request: room for a long episode among unrelated search results, while
#: bounding the work one request can cause.
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class FhirEpisode:
    """A client's episode read from FHIR: the contract request and what it was read from.

    Attributes:
        request: the request the JSON API takes.
        patient_reference: a Reference to the Patient, for ``RiskAssessment.subject``.
        session_basis: per session (in order), References to its Encounter or Appointment and
            the Observations and QuestionnaireResponses whose values it carries.
        warnings: for the answer: what was read but not used (a total Observation that
            differs from the questionnaire response's items).
    """

    request: AssessmentRequest
    patient_reference: dict[str, Any]
    session_basis: tuple[tuple[dict[str, Any], ...], ...]
    warnings: tuple[str, ...] = ()

    def basis(self, as_of_session: int) -> list[dict[str, Any]]:
        """References to the resources of sessions 1..``as_of_session`` (what was used)."""
        return [ref for session in self.session_basis[:as_of_session] for ref in session]


def request_from_bundle(bundle: object) -> AssessmentRequest:
    """The contract request of a Bundle (collection or searchset) of one client.

    Raises:
        FhirInputError: every problem found, each at its ``Bundle.entry[i]...`` path.
    """
    return read_bundle(bundle).request


def request_from_resources(
    resources: Sequence[object],
    locations: Sequence[str] | None = None,
    *,
    default_clinic: str | None = None,
) -> AssessmentRequest:
    """The contract request of loose resources (Patient, Encounters, Appointments, Observations).

    Args:
        resources: resource JSON objects, as from CDS Hooks prefetch or a FHIR server search.
        locations: a path per resource for the issues (default ``resources[i]``).
        default_clinic: the clinic when the record names none (the caller's only clinic).

    Raises:
        FhirInputError: every problem found.
    """
    return read_resources(resources, locations, default_clinic=default_clinic).request


def read_bundle(bundle: object, *, default_clinic: str | None = None) -> FhirEpisode:
    """Like :func:`request_from_bundle`, keeping the references the result needs."""
    if not isinstance(bundle, dict):
        raise FhirInputError(
            [FhirIssue("Bundle", "expected a Bundle: a JSON object", "structure")]
        )
    if bundle.get("resourceType") != "Bundle":
        message = "expected resourceType 'Bundle' (one client's record as a collection)"
        raise FhirInputError([FhirIssue("Bundle.resourceType", message, "structure")])
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise FhirInputError([FhirIssue("Bundle.entry", "must be a list", "structure")])
    if len(entries) > MAX_ENTRIES:
        message = f"at most {MAX_ENTRIES} entries; send one client's episode"
        raise FhirInputError([FhirIssue("Bundle.entry", message, "too-costly")])
    issues, items = [], []
    for number, entry in enumerate(entries):
        path = f"Bundle.entry[{number}]"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            message = "needs a resource with a resourceType"
            issues.append(FhirIssue(f"{path}.resource", message, "required"))
            continue
        full_url = entry.get("fullUrl")
        items.append(
            (f"{path}.resource", resource, full_url if isinstance(full_url, str) else None)
        )
    # The envelope alone: each resource is checked by its own model, and only if we read it.
    envelope = {**bundle, "entry": [_without_resource(entry) for entry in entries]}
    issues.extend(_validated(Bundle, envelope, "Bundle"))
    kind = bundle.get("type")
    if not (isinstance(kind, str) and kind in BUNDLE_TYPES):
        message = "Bundle.type must be collection or searchset"
        issues.append(FhirIssue("Bundle.type", message, "not-supported"))
    raise_issues(issues)
    return _read(items, whole="Bundle.entry", default_clinic=default_clinic)


def read_resources(
    resources: Sequence[object],
    locations: Sequence[str] | None = None,
    *,
    default_clinic: str | None = None,
) -> FhirEpisode:
    """Like :func:`request_from_resources`, keeping the references the result needs."""
    paths = list(locations) if locations is not None else []
    paths += [f"resources[{n}]" for n in range(len(paths), len(resources))]
    issues, items = [], []
    for path, resource in zip(paths, resources, strict=False):
        if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
            items.append((path, resource, None))
        else:
            issues.append(FhirIssue(path, "expected a FHIR resource (a JSON object)", "structure"))
    raise_issues(issues)
    return _read(items, whole="resources", default_clinic=default_clinic)


def _without_resource(entry: object) -> object:
    return (
        {k: v for k, v in entry.items() if k != "resource"} if isinstance(entry, dict) else entry
    )


def _validated(model: type, data: dict[str, Any], path: str) -> list[FhirIssue]:
    try:
        model.model_validate(data)
    except ValidationError as error:
        return model_issues(path, error.errors())
    except (ValueError, TypeError, RecursionError):
        return [FhirIssue(path, "cannot be read as FHIR R4", "structure")]
    return []


def _read(
    items: list[tuple[str, dict[str, Any], str | None]],
    *,
    whole: str,
    default_clinic: str | None = None,
) -> FhirEpisode:
    parsed, issues = parse_resources(items)
    raise_issues(issues)
    by_kind: dict[str, list[Located]] = {}
    for resource in parsed:
        by_kind.setdefault(resource.kind, []).append(resource)
    patients = by_kind.get("Patient", [])
    if len(patients) != 1:
        if not patients:
            raise FhirInputError([FhirIssue(whole, "a Patient is required", "required")])
        message = "a second Patient: send one client per request"
        raise FhirInputError([FhirIssue(p.path, message) for p in patients[1:]])
    (patient,) = patients
    index = ReferenceIndex(parsed)
    visits, left_out, issues = read_visits(
        by_kind.get("Encounter", []), by_kind.get("Appointment", []), patient, index
    )
    raise_issues(issues)  # observations cannot be placed on sessions we could not read
    if not visits:
        message = "at least one Encounter (a session) is required"
        raise FhirInputError([FhirIssue(whole, message, "required")])
    observations = by_kind.get("Observation", [])
    items = [o for o in observations if is_item_observation(o)]
    totals = [o for o in observations if not is_item_observation(o)]
    issues = fill_measures(totals, visits, left_out, patient, index)
    answer_issues, warnings = apply_questionnaires(
        by_kind.get("QuestionnaireResponse", []),
        items,
        visits,
        left_out,
        patient,
        index,
        by_kind.get("Questionnaire", []),
    )
    issues += answer_issues
    if len(visits) > MAX_SESSIONS:
        message = f"{len(visits)} sessions; at most {MAX_SESSIONS} per episode"
        issues.append(FhirIssue(whole, message, "too-costly"))
    intake = intake_of(by_kind.get("EpisodeOfCare", []), visits, patient, index)
    client, provenance, client_issues = client_row(
        patient, visits, index, intake, default_clinic=default_clinic
    )
    issues += client_issues
    sessions = []
    for number, visit in enumerate(visits, start=1):
        sessions.append(
            {
                "session_number": number,
                "session_date": visit.day.isoformat(),
                "attended": visit.attended,
                **visit.measures,
            }
        )
        provenance[("sessions", number - 1, "session_date")] = visit.date_path
        for column, path in visit.measure_paths.items():
            provenance[("sessions", number - 1, column)] = path
    try:
        request = AssessmentRequest.model_validate({"client": client, "sessions": sessions})
    except ValidationError as error:
        # The contract also flags what is already reported (a missing birthDate is a missing
        # age); each element is named once.
        named = {issue.path for issue in issues}
        contract = _contract_issues(error, provenance, whole)
        issues += [issue for issue in contract if issue.path not in named]
    raise_issues(issues)
    return FhirEpisode(
        request=request,
        patient_reference=patient.reference() or {"display": client["client_id"]},
        session_basis=tuple(_basis(visit) for visit in visits),
        warnings=tuple(warnings),
    )


def _basis(visit: Visit) -> tuple[dict[str, Any], ...]:
    sources = [visit.source, *visit.observations]
    return tuple(ref for source in sources if (ref := source.reference()) is not None)


def _contract_issues(
    error: ValidationError, provenance: Provenance, whole: str
) -> list[FhirIssue]:
    """Contract violations at the FHIR element they came from (else at the contract field)."""
    issues = []
    for item in error.errors():
        location = tuple(item.get("loc", ()))
        path = next(
            (
                provenance[location[:n]]
                for n in range(len(location), 0, -1)
                if location[:n] in provenance
            ),
            None,
        )
        if path is None:
            path = whole if location[:1] == ("sessions",) else field_path(location)
        message = f"{field_path(location)}: {item['msg']}"
        issues.append(FhirIssue(path, message, "value"))
    return issues
