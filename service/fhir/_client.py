"""The client row of the data contract, read from the Patient and the episode's Encounters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from service.fhir._resources import Located, ReferenceIndex, first_day, reference_id
from service.fhir._sessions import Visit
from service.fhir.codes import GENDER, PRIMARY_CONCERN_URL, PRIOR_TREATMENT_URL
from service.fhir.issues import FhirIssue

#: Contract location (``("client", "age")``) -> the FHIR path its value came from.
Provenance = dict[tuple[str | int, ...], str]


def client_row(
    patient: Located,
    visits: Sequence[Visit],
    index: ReferenceIndex,
    intake_from: tuple[date, str] | None = None,
    *,
    default_clinic: str | None = None,
) -> tuple[dict[str, Any], Provenance, list[FhirIssue]]:
    """The contract's client row, where each field came from, and what is missing.

    ``intake_from`` is the intake date and its path when an EpisodeOfCare gives it; else
    the intake date is the first session's. ``default_clinic`` is the caller's clinic, used
    when the record names none (a record system serving one clinic need not say which).
    """
    model, path = patient.model, patient.path
    issues: list[FhirIssue] = []
    identifiers = [i.value for i in model.identifier or () if i.value]
    client_id = model.id or (identifiers[0] if identifiers else None)
    if client_id is None:
        issues.append(FhirIssue(f"{path}.id", "the Patient needs an id or identifier", "required"))
    intake, intake_path = intake_from or (visits[0].day, visits[0].date_path)
    birth = first_day(model.birthDate)
    if birth is None:
        issues.append(FhirIssue(f"{path}.birthDate", "required to know the age", "required"))
    concern, concern_path = _extension(model, PRIMARY_CONCERN_URL, "valueCode", path, issues)
    prior, prior_path = _extension(model, PRIOR_TREATMENT_URL, "valueBoolean", path, issues)
    encounters = [v for v in visits if v.source.kind == "Encounter"]
    clinic, clinic_path = _first_reference(encounters, "serviceProvider", index)
    if clinic is None and (clinic := reference_id(model.managingOrganization, index)):
        clinic_path = f"{path}.managingOrganization"
    therapist, therapist_path = _therapist(encounters, index)
    first = encounters[0].source.path if encounters else path
    if clinic is None and default_clinic is not None:
        clinic = default_clinic
    if clinic is None:
        message = "Encounter.serviceProvider or Patient.managingOrganization names the clinic"
        issues.append(FhirIssue(f"{first}.serviceProvider", message, "required"))
    if therapist is None:
        message = "an Encounter.participant.individual names the therapist"
        issues.append(FhirIssue(f"{first}.participant", message, "required"))
    client = {
        "client_id": client_id,
        "clinic_id": clinic,
        "therapist_id": therapist,
        "intake_date": intake.isoformat(),
        "age": None if birth is None else _years(birth, intake),
        "gender": GENDER.get(model.gender or "unknown", model.gender),
        "primary_concern": "other" if concern is None else concern,
        "prior_treatment": prior,
    }
    provenance: Provenance = {
        ("client", "client_id"): f"{path}.id",
        ("client", "clinic_id"): clinic_path or f"{first}.serviceProvider",
        ("client", "therapist_id"): therapist_path or f"{first}.participant",
        ("client", "intake_date"): intake_path,
        ("client", "age"): f"{path}.birthDate",
        ("client", "gender"): f"{path}.gender",
        ("client", "primary_concern"): concern_path or f"{path}.extension",
        ("client", "prior_treatment"): prior_path or f"{path}.extension",
    }
    return client, provenance, issues


def _extension(
    model: Any, url: str, element: str, path: str, issues: list[FhirIssue]
) -> tuple[Any, str | None]:
    for number, extension in enumerate(model.extension or ()):
        if extension.url == url:
            where = f"{path}.extension[{number}]"
            value = getattr(extension, element)
            if value is None:
                issues.append(
                    FhirIssue(f"{where}.{element}", f"{url} needs {element}", "required")
                )
            return value, f"{where}.{element}"
    return None, None


def _first_reference(
    encounters: Sequence[Visit], element: str, index: ReferenceIndex
) -> tuple[str | None, str | None]:
    for visit in encounters:
        if (found := reference_id(getattr(visit.source.model, element), index)) is not None:
            return found, f"{visit.source.path}.{element}"
    return None, None


def _therapist(
    encounters: Sequence[Visit], index: ReferenceIndex
) -> tuple[str | None, str | None]:
    """The first practitioner named on the episode's encounters, in session order."""
    for visit in encounters:
        for number, participant in enumerate(visit.source.model.participant or ()):
            individual = participant.individual
            if individual is not None and _is_related_person(individual):
                continue  # a relative who came along is not the therapist
            if (found := reference_id(individual, index)) is not None:
                return found, f"{visit.source.path}.participant[{number}].individual"
    return None, None


def _is_related_person(reference: Any) -> bool:
    return reference.type == "RelatedPerson" or "RelatedPerson/" in (reference.reference or "")


def _years(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
