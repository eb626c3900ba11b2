"""Parsed input resources, the references between them, and the dates and numbers they carry."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from service.fhir.issues import FhirIssue, model_issues

#: The resource types the mapping reads; every other type in the input is ignored.
READ_TYPES = frozenset(
    {
        "Patient",
        "Encounter",
        "Appointment",
        "Observation",
        "QuestionnaireResponse",
        "Questionnaire",
        "EpisodeOfCare",
    }
)
#: Required elements (attribute, FHIR name) that the R4B models let pass as null or empty.
_REQUIRED = {
    "Observation": (("code", "code"),),
    "Encounter": (("class_fhir", "class"),),
    "Appointment": (("participant", "participant"),),
}


@dataclass(frozen=True, slots=True)
class Located:
    """One resource the mapping reads, validated, with where it came from.

    Attributes:
        path: FHIRPath-like location of the resource (``Bundle.entry[3].resource``).
        model: the fhir.resources R4B model of it.
        full_url: ``Bundle.entry.fullUrl``, when it came from a Bundle that gave one.
    """

    path: str
    model: Any
    full_url: str | None = None

    @property
    def kind(self) -> str:
        """The resource type."""
        return self.model.get_resource_type()

    def reference(self) -> dict[str, str] | None:
        """A Reference to this resource (``Type/id``, else its fullUrl); None without either."""
        if self.model.id:
            return {"reference": f"{self.kind}/{self.model.id}"}
        if self.full_url:
            return {"reference": self.full_url}
        return None


def parse_resources(
    items: Sequence[tuple[str, dict[str, Any], str | None]],
) -> tuple[list[Located], list[FhirIssue]]:
    """Validate the readable resources of ``(path, resource, fullUrl)`` items with R4B models.

    A resource given twice (same type and id, same content) is read once.

    Returns:
        The parsed resources of :data:`READ_TYPES`, in input order, and the issues of the
        ones that failed.
    """
    parsed, issues = [], []
    seen: dict[tuple[str, object], dict[str, Any]] = {}
    for path, resource, full_url in items:
        kind = resource.get("resourceType")
        if kind not in READ_TYPES:
            continue
        key = (kind, resource.get("id"))
        if isinstance(key[1], str) and key in seen:
            # Prefetch and follow-up searches may return one resource twice: read it once.
            if seen[key] != resource:
                message = f"{kind}/{key[1]} appears twice with different content"
                issues.append(FhirIssue(path, message, "invalid"))
            continue
        if isinstance(key[1], str):
            seen[key] = resource
        try:
            model = get_fhir_model_class(kind).model_validate(resource)
        except ValidationError as error:
            issues.extend(model_issues(path, error.errors()))
            continue
        except (ValueError, TypeError, RecursionError):
            # Input from outside: a pathological value (say, nesting deep enough to exhaust the
            # stack) must become an issue, never a 500.
            issues.append(FhirIssue(path, f"this {kind} cannot be read as FHIR R4", "structure"))
            continue
        missing = [
            FhirIssue(f"{path}.{element}", f"{kind}.{element} is required", "required")
            for attribute, element in _REQUIRED.get(kind, ())
            if not getattr(model, attribute)
        ]
        if missing:
            issues.extend(missing)
            continue
        parsed.append(Located(path, model, full_url))
    return parsed, issues


class ReferenceIndex:
    """Resolves references among the input resources (``Type/id``, absolute URL or fullUrl)."""

    def __init__(self, resources: Sequence[Located]) -> None:
        self._by_key: dict[str, Located] = {}
        for resource in resources:
            if resource.full_url:
                self._by_key.setdefault(resource.full_url, resource)
            if resource.model.id:
                self._by_key.setdefault(f"{resource.kind}/{resource.model.id}", resource)

    def resolve(self, reference: Any) -> Located | None:
        """The resource a Reference points to, when it is in the input."""
        text = getattr(reference, "reference", None)
        if not text:
            return None
        return self._by_key.get(text) or self._by_key.get(_relative(text))


def refers_to(reference: Any, target: Located, index: ReferenceIndex) -> bool:
    """Whether ``reference`` may mean ``target`` (a reference by identifier only may)."""
    if reference is None or not getattr(reference, "reference", None):
        return True
    resolved = index.resolve(reference)
    if resolved is not None:
        return resolved is target
    # A reference to a resource that is not in the input names something else when its type
    # matches and its id differs; a fullUrl we cannot resolve tells us nothing.
    relative = _relative(reference.reference)
    if relative.startswith(f"{target.kind}/") and target.model.id:
        return relative == f"{target.kind}/{target.model.id}"
    return True


def reference_id(reference: Any, index: ReferenceIndex) -> str | None:
    """A stable id for what ``reference`` names: resource id, identifier value or display."""
    if reference is None:
        return None
    resolved = index.resolve(reference)
    if resolved is not None and resolved.model.id:
        return resolved.model.id
    text = getattr(reference, "reference", None)
    if text:
        return _relative(text).rsplit("/", 1)[-1] or text
    identifier = getattr(reference, "identifier", None)
    if identifier is not None and identifier.value:
        return identifier.value
    return getattr(reference, "display", None) or None


def _relative(text: str) -> str:
    """``https://ehr/fhir/Encounter/7/_history/2`` as ``Encounter/7``."""
    parts = [part for part in text.split("/") if part]
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:])


def day_and_time(value: Any) -> tuple[date, time] | None:
    """The calendar day (and wall-clock time) of a FHIR date or dateTime; None if partial.

    The day is taken as written, in the sender's own time zone: a session at 23:30 local
    time belongs to that day wherever UTC puts it.
    """
    if isinstance(value, datetime):
        return value.date(), value.time()
    if isinstance(value, date):
        return value, time()
    return None


def first_day(value: Any) -> date | None:
    """A FHIR date, with a partial date (``1990``, ``1990-05``) read as its first day."""
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        parts = value.split("-")
        try:
            return date(int(parts[0]), int(parts[1]) if len(parts) > 1 else 1, 1)
        except ValueError:
            return None
    return None


def numeric_value(observation: Any) -> tuple[float | None, str | None]:
    """The number an Observation carries and the element holding it.

    Returns:
        ``(value, element)``: ``(None, None)`` when the Observation has no value (a missing
        measure); ``(None, element)`` when the value is there but is not a number.
    """
    if observation.valueQuantity is not None:
        value = observation.valueQuantity.value
        if value is None:
            return None, None
        return float(value), "valueQuantity.value"
    if observation.valueInteger is not None:
        return float(observation.valueInteger), "valueInteger"
    if observation.valueString is not None:
        # Some exports (US Core's PHQ-9 example) send the total as a string.
        try:
            number = float(observation.valueString.strip())
        except ValueError:
            return None, "valueString"
        return (number if math.isfinite(number) else None), "valueString"
    for element in type(observation).model_fields:
        # ``valueString__ext`` and the like are extension holders, not values.
        is_value = element.startswith("value") and "__" not in element
        if is_value and getattr(observation, element) is not None:
            return None, element
    return None, None
