"""Encounters and no-show Appointments become sessions; questionnaire Observations fill them.

The rules (docs/fhir.md): an Encounter that happened is an attended session, a cancelled one
or a no-show Appointment a missed one; an Encounter entered in error or only planned is not a
session. An Observation belongs to the session of its Encounter, or, without a usable
Encounter reference, to the attended session on its effective date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

from service.fhir._resources import (
    Located,
    ReferenceIndex,
    day_and_time,
    numeric_value,
    refers_to,
)
from service.fhir.codes import MEASURE_BY_CODING, MeasureCode
from service.fhir.issues import FhirIssue

#: Encounter statuses in which the client came (the session was attended).
ATTENDED = frozenset({"finished", "in-progress", "arrived", "triaged", "onleave"})
#: Encounter statuses of a session that was scheduled but did not take place.
MISSED = frozenset({"cancelled"})
#: Encounter statuses that are no session at all: never happened, or not yet.
NOT_A_SESSION = frozenset({"entered-in-error", "planned"})
#: Observation statuses whose value is a result we may use.
USABLE = frozenset({"final", "amended", "corrected"})
_OBSERVATION_STATUSES = USABLE | {
    "registered",
    "preliminary",
    "cancelled",
    "entered-in-error",
    "unknown",
}


@dataclass(slots=True)
class Visit:
    """A scheduled session, attended or missed, with the measures recorded at it."""

    source: Located
    day: date
    at: time
    attended: bool
    date_path: str
    measures: dict[str, float] = field(default_factory=dict)
    measure_paths: dict[str, str] = field(default_factory=dict)
    observations: list[Located] = field(default_factory=list)


def read_visits(
    encounters: Sequence[Located],
    appointments: Sequence[Located],
    patient: Located,
    index: ReferenceIndex,
) -> tuple[list[Visit], dict[int, str], list[FhirIssue]]:
    """The sessions in date order, the statuses of encounters left out, and the issues."""
    visits: list[Visit] = []
    left_out: dict[int, str] = {}
    issues: list[FhirIssue] = []
    covered: set[int] = set()  # appointments an Encounter already stands for
    for encounter in encounters:
        model, path = encounter.model, encounter.path
        for reference in model.appointment or ():
            if (appointment := index.resolve(reference)) is not None:
                covered.add(id(appointment))
        if not refers_to(model.subject, patient, index):
            issues.append(FhirIssue(f"{path}.subject", "refers to a different Patient"))
        status = model.status
        if status in NOT_A_SESSION:
            left_out[id(encounter)] = status
            continue
        if status not in ATTENDED | MISSED:
            issues.append(
                FhirIssue(
                    f"{path}.status",
                    f"status {status!r} does not say whether the client attended; use "
                    "finished (attended), cancelled (missed) or entered-in-error",
                    "value",
                )
            )
            continue
        start = model.period.start if model.period else None
        visit = _visit(encounter, start, f"{path}.period.start", status in ATTENDED, issues)
        if visit is not None:
            visits.append(visit)
    for appointment in appointments:
        if appointment.model.status != "noshow" or id(appointment) in covered:
            continue  # a kept or booked appointment is not a session; its Encounter is
        actors = [p.actor for p in appointment.model.participant if p.actor is not None]
        patients = [a for a in actors if (a.reference or "").split("/")[-2:-1] == ["Patient"]]
        if patients and not any(refers_to(a, patient, index) for a in patients):
            issues.append(
                FhirIssue(f"{appointment.path}.participant", "refers to a different Patient")
            )
        start_path = f"{appointment.path}.start"
        visit = _visit(appointment, appointment.model.start, start_path, False, issues)
        if visit is not None:
            visits.append(visit)
    order = {id(visit): n for n, visit in enumerate(visits)}
    visits.sort(key=lambda visit: (visit.day, visit.at, order[id(visit)]))
    return visits, left_out, issues


def _visit(
    source: Located, start: Any, path: str, attended: bool, issues: list[FhirIssue]
) -> Visit | None:
    if start is None:
        issues.append(FhirIssue(path, "the session date is required", "required"))
        return None
    when = day_and_time(start)
    if when is None:
        issues.append(FhirIssue(path, "needs a full date (YYYY-MM-DD)", "value"))
        return None
    return Visit(source, when[0], when[1], attended, path)


def fill_measures(
    observations: Sequence[Located],
    visits: Sequence[Visit],
    left_out: dict[int, str],
    patient: Located,
    index: ReferenceIndex,
) -> list[FhirIssue]:
    """Put each usable questionnaire total on its session; return the problems found."""
    issues: list[FhirIssue] = []
    by_source = {id(visit.source): visit for visit in visits}
    for observation in observations:
        model, path = observation.model, observation.path
        if model.status not in _OBSERVATION_STATUSES:
            issues.append(FhirIssue(f"{path}.status", "not an Observation status", "value"))
            continue
        measure = _measure(model)
        if model.status not in USABLE or measure is None:
            continue  # not a result yet (or withdrawn), or not a measure the model uses
        if not refers_to(model.subject, patient, index):
            issues.append(FhirIssue(f"{path}.subject", "refers to a different Patient"))
            continue
        value, element = numeric_value(model)
        if element is None:
            continue  # no value (e.g. dataAbsentReason): the measure is missing, not zero
        if value is None:
            issues.append(
                FhirIssue(f"{path}.{element}", f"a {measure.label} total must be a number")
            )
            continue
        visit, problem = _session_of(observation, by_source, visits, left_out, index)
        if problem is not None:
            issues.append(problem)
            continue
        if measure.column in visit.measures:
            issues.append(
                FhirIssue(
                    path,
                    f"a second {measure.label} total for the session on {visit.day}; the "
                    f"first is at {visit.measure_paths[measure.column]}; send one",
                )
            )
            continue
        visit.measures[measure.column] = value
        visit.measure_paths[measure.column] = f"{path}.{element}"
        visit.observations.append(observation)
    return issues


def _measure(model: Any) -> MeasureCode | None:
    for coding in model.code.coding or ():
        measure = MEASURE_BY_CODING.get((coding.system, coding.code))
        if measure is not None:
            return measure
    return None


def _session_of(
    observation: Located,
    by_source: dict[int, Visit],
    visits: Sequence[Visit],
    left_out: dict[int, str],
    index: ReferenceIndex,
) -> tuple[Visit, None] | tuple[None, FhirIssue]:
    """The session an Observation belongs to, or the issue saying why there is none."""
    model, path = observation.model, observation.path
    encounter = index.resolve(model.encounter)
    if encounter is not None and id(encounter) in left_out:
        message = f"its Encounter has status {left_out[id(encounter)]!r}, which is no session"
        return None, FhirIssue(f"{path}.encounter", message)
    visit = by_source.get(id(encounter)) if encounter is not None else None
    if visit is not None:
        if not visit.attended:
            return None, _missed(f"{path}.encounter")
        return visit, None
    # No Encounter reference, or one to an Encounter not sent: the date decides.
    element, effective = _effective(model)
    if effective is None:
        message = "without an Encounter in the input, the effective date must say which session"
        return None, FhirIssue(f"{path}.{element}", message, "required")
    when = day_and_time(effective)
    if when is None:
        return None, FhirIssue(f"{path}.{element}", "needs a full date (YYYY-MM-DD)", "value")
    same_day = [visit for visit in visits if visit.day == when[0]]
    attended = [visit for visit in same_day if visit.attended]
    if len(attended) == 1:
        return attended[0], None
    if len(attended) > 1:
        message = f"{len(attended)} sessions on {when[0]}: reference the Encounter"
        return None, FhirIssue(f"{path}.encounter", message, "required")
    if same_day:
        return None, _missed(f"{path}.{element}")
    return None, FhirIssue(f"{path}.{element}", f"no session on {when[0]}", "value")


def _missed(path: str) -> FhirIssue:
    return FhirIssue(
        path,
        "its session was missed (Encounter cancelled or Appointment noshow); a missed "
        "session carries no measures",
        "value",
    )


#: The session of an Observation, or of a QuestionnaireResponse (by ``authored``).
session_of = _session_of


def _effective(model: Any) -> tuple[str, Any]:
    if model.get_resource_type() == "QuestionnaireResponse":
        return "authored", model.authored
    if model.effectiveDateTime is not None:
        return "effectiveDateTime", model.effectiveDateTime
    if model.effectivePeriod is not None and model.effectivePeriod.start is not None:
        return "effectivePeriod.start", model.effectivePeriod.start
    if model.effectiveInstant is not None:
        return "effectiveInstant", model.effectiveInstant
    return "effective[x]", None
