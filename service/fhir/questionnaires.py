"""PHQ-9 and GAD-7 as record systems hold them: QuestionnaireResponses and item Observations.

A response to the LOINC panel (PHQ-9 44249-1, GAD-7 69737-5), or a session's item-level
Observations (code = the item's LOINC code), becomes the instrument's total, and for the
PHQ-9 also item 9 (``phq9_item9``, data contract revision 2, which feeds the self-harm
signal). The rules (docs/fhir.md, "Questionnaire responses and item answers"):

* A QuestionnaireResponse is the instrument's when its ``questionnaire`` canonical ends in
  the panel's LOINC code (``http://loinc.org/q/44249-1``, ``Questionnaire/44249-1|2.0``) or
  when one of its items is a panel item. An item is read through the Questionnaire the
  response answers, when it is sent or contained (its item of the same ``linkId`` has the
  LOINC item code in ``code``), else by its ``linkId`` or its ``definition``, whose last
  segment (after ``/`` or ``#``) is the item's LOINC code (``44250-9``, ``/44250-9``,
  ``/44249-1/44250-9``); groups are walked.
* An answer is a ``valueCoding`` with a LOINC answer code (LA6568-5 = 0, LA6569-3 = 1,
  LA6570-1 = 2, LA6571-9 = 3), a coding with an ``ordinalValue`` extension, or a
  ``valueInteger``; item Observations carry the same as ``valueCodeableConcept``,
  ``valueInteger`` or ``valueQuantity``. Anything else, or a value that is not 0 to 3, is
  refused with an issue naming the item.
* The total is the sum of the items (Kroenke, Spitzer & Williams 2001; Spitzer et al. 2006).
  **A response with a missing item is refused**, with an issue naming every missing item.
  We looked for the instruments' published prorating rule and found none we could cite: the
  PHQ/GAD-7 instruction manual (phqscreeners.com) and the Kroenke et al. 2010 review
  (Gen Hosp Psychiatry 32:345-359) give the item scores and sum only, as far as the sources
  we could read show; the "up to two missing items, replaced by the mean of the answered
  ones" rule seen in third-party scoring code is attributed to one validation study (Arrieta
  et al. 2017, J Clin Psychol, doi 10.1002/jclp.22390), not to the instruments' authors, and
  nothing comparable was found for the GAD-7. A made-up total would reach the model and the
  clinician as if it were answered, so we refuse (docs/fhir.md).
* The exception is PHQ-9 item 9 sent alone as an Observation (no other PHQ-9 item that
  session): as before, it is the ``phq9_item9`` column only, beside a total Observation.
* Per session and instrument: a QuestionnaireResponse wins over item Observations, which win
  over a total Observation (LOINC 44261-6 / 70274-6). A total that differs from the items'
  sum is named in the answer's warnings; the resources not used leave the
  RiskAssessment's ``basis``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from features.instruments import SELF_HARM_ITEM
from service.fhir._resources import Located, ReferenceIndex, refers_to
from service.fhir._sessions import USABLE, Visit, session_of
from service.fhir.codes import LOINC
from service.fhir.issues import FhirIssue

#: The R4 extension on a Coding that gives an answer's score (also its R5 name, itemWeight).
ORDINAL_VALUE_URLS = frozenset(
    {
        "http://hl7.org/fhir/StructureDefinition/ordinalValue",
        "http://hl7.org/fhir/StructureDefinition/itemWeight",
    }
)
#: LOINC answer list LL358-3 (PHQ-9 and GAD-7 items): answer code -> score.
ANSWER_SCORES: dict[str, int] = {
    "LA6568-5": 0,  # Not at all
    "LA6569-3": 1,  # Several days
    "LA6570-1": 2,  # More than half the days
    "LA6571-9": 3,  # Nearly every day
}
#: QuestionnaireResponse statuses that are not (yet, or any more) answers to read.
_IGNORED_STATUSES = frozenset({"in-progress", "entered-in-error"})


@dataclass(frozen=True, slots=True)
class Panel:
    """A LOINC questionnaire panel whose items sum to a total that the contract holds.

    Attributes:
        column: the contract's sessions column of the total.
        label: the instrument's name.
        code: LOINC code of the panel.
        total_code: LOINC code of the total score.
        items: (LOINC item code, display) in the instrument's order.
    """

    column: str
    label: str
    code: str
    total_code: str
    items: tuple[tuple[str, str], ...]

    def number(self, item_code: str) -> int:
        """The item's number in the instrument (1-based)."""
        return [code for code, _ in self.items].index(item_code) + 1

    def name(self, item_code: str) -> str:
        """``PHQ-9 item 3 (44259-0)``."""
        return f"{self.label} item {self.number(item_code)} ({item_code})"


#: LOINC 44249-1 "PHQ-9 quick depression assessment panel [Reported.PHQ]", items in order
#: (loinc.org; US Core 6.1+ example Observation-PHQ9-panel-example-44249-1, hasMember order).
PHQ9 = Panel(
    column="phq9",
    label="PHQ-9",
    code="44249-1",
    total_code="44261-6",
    items=(
        ("44250-9", "Little interest or pleasure in doing things"),
        ("44255-8", "Feeling down, depressed, or hopeless"),
        ("44259-0", "Trouble falling or staying asleep, or sleeping too much"),
        ("44254-1", "Feeling tired or having little energy"),
        ("44251-7", "Poor appetite or overeating"),
        (
            "44258-2",
            "Feeling bad about yourself-or that you are a failure or have let yourself or "
            "your family down",
        ),
        (
            "44252-5",
            "Trouble concentrating on things, such as reading the newspaper or watching "
            "television",
        ),
        (
            "44253-3",
            "Moving or speaking so slowly that other people could have noticed. Or the "
            "opposite-being so fidgety or restless that you have been moving around a lot "
            "more than usual",
        ),
        (
            "44260-8",
            "Thoughts that you would be better off dead, or of hurting yourself in some way",
        ),
    ),
)
#: PHQ-9 item 9, the self-harm item (``phq9_item9``).
SELF_HARM_CODE = "44260-8"
#: LOINC 69737-5 "Generalized anxiety disorder 7 item (GAD-7)", items in order (loinc.org).
GAD7 = Panel(
    column="gad7",
    label="GAD-7",
    code="69737-5",
    total_code="70274-6",
    items=(
        ("69725-0", "Feeling nervous, anxious or on edge"),
        ("68509-0", "Not being able to stop or control worrying"),
        ("69733-4", "Worrying too much about different things"),
        ("69734-2", "Trouble relaxing"),
        ("69735-9", "Being so restless that it is hard to sit still"),
        ("69689-8", "Becoming easily annoyed or irritable"),
        ("69736-7", "Feeling afraid as if something awful might happen"),
    ),
)
PANELS: tuple[Panel, ...] = (PHQ9, GAD7)
_TOTAL_CODES = frozenset(panel.total_code for panel in PANELS)
#: Item LOINC code -> its panel.
PANEL_OF_ITEM: dict[str, Panel] = {code: panel for panel in PANELS for code, _ in panel.items}
#: Every item code, for searches (CDS Hooks prefetch).
ITEM_CODES: tuple[str, ...] = tuple(PANEL_OF_ITEM)


@dataclass(slots=True)
class _Reading:
    """One instrument's answers for one session, from one response or from item Observations."""

    panel: Panel
    visit: Visit
    path: str
    sources: list[Located]
    kind: str  # "response" or "items"
    values: dict[str, int] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    stated_total: tuple[float, str] | None = None


def is_item_observation(observation: Located) -> bool:
    """Whether an Observation carries one PHQ-9 or GAD-7 item (read here, not as a total)."""
    return _item_code_of_observation(observation.model) is not None


def apply_questionnaires(
    responses: Sequence[Located],
    item_observations: Sequence[Located],
    visits: Sequence[Visit],
    left_out: dict[int, str],
    patient: Located,
    index: ReferenceIndex,
    questionnaires: Sequence[Located] = (),
) -> tuple[list[FhirIssue], list[str]]:
    """Score the responses and item Observations onto their sessions.

    Totals already on a session (from total Observations) are replaced where a response or
    item Observations give the instrument for that session. ``questionnaires`` (Questionnaire
    resources sent beside the responses) map the responses' linkIds to LOINC item codes.

    Returns:
        The issues found, and the warnings for the answer (a differing total).
    """
    issues: list[FhirIssue] = []
    by_source = {id(visit.source): visit for visit in visits}
    readings: list[_Reading] = []
    forms = _Forms(questionnaires)
    for response in responses:
        readings += _read_response(
            response, forms, by_source, visits, left_out, patient, index, issues
        )
    readings += _read_item_observations(
        item_observations, by_source, visits, left_out, patient, index, issues
    )
    if issues:
        return issues, []
    warnings: list[str] = []
    chosen: dict[tuple[int, str], _Reading] = {}
    lone: list[_Reading] = []
    for reading in readings:
        key = (id(reading.visit), reading.panel.column)
        if reading.kind == "items" and _is_lone_self_harm_item(reading):
            lone.append(reading)
            continue
        other = chosen.get(key)
        if other is None:
            chosen[key] = reading
        elif other.kind == "response" and reading.kind == "response":
            issues.append(
                FhirIssue(
                    reading.path,
                    f"a second {reading.panel.label} response for the session on "
                    f"{reading.visit.day}; the first is at {other.path}; send one",
                )
            )
        else:
            # A response wins over item Observations (often derived from it).
            response, items = (other, reading) if other.kind == "response" else (reading, other)
            chosen[key] = response
            if _complete(items) and _complete(response) and _sum(items) != _sum(response):
                warnings.append(
                    f"{response.panel.label} on {response.visit.day}: the item Observations "
                    f"add up to {_sum(items)}, the QuestionnaireResponse "
                    f"{_name(response.sources[0])} to {_sum(response)}; the response was used"
                )
    for reading in chosen.values():
        missing = [code for code, _ in reading.panel.items if code not in reading.values]
        if missing:
            names = ", ".join(reading.panel.name(code) for code in missing)
            issues.append(
                FhirIssue(
                    reading.path,
                    f"{reading.panel.label} {_source_word(reading)} without an answer to "
                    f"{names}: the total cannot be scored (missing items are not prorated; "
                    "docs/fhir.md)",
                    "required",
                )
            )
            continue
        warnings += _put_total(reading)
    for reading in lone:
        if (id(reading.visit), PHQ9.column) not in chosen:
            _put_self_harm_item(reading)
    return issues, warnings


def _source_word(reading: _Reading) -> str:
    return "response" if reading.kind == "response" else "item Observations"


def _sum(reading: _Reading) -> int:
    return sum(reading.values.values())


def _complete(reading: _Reading) -> bool:
    return len(reading.values) == len(reading.panel.items)


def _name(resource: Located) -> str:
    reference = resource.reference()
    return reference["reference"] if reference else resource.path


def _is_lone_self_harm_item(reading: _Reading) -> bool:
    return reading.panel is PHQ9 and set(reading.values) == {SELF_HARM_CODE}


def _put_self_harm_item(reading: _Reading) -> None:
    visit = reading.visit
    visit.measures[SELF_HARM_ITEM] = float(reading.values[SELF_HARM_CODE])
    visit.measure_paths[SELF_HARM_ITEM] = reading.paths[SELF_HARM_CODE]
    visit.observations.extend(reading.sources)


def _put_total(reading: _Reading) -> list[str]:
    """Put a complete reading's total (and PHQ-9 item 9) on its session; return warnings."""
    visit, panel = reading.visit, reading.panel
    total = _sum(reading)
    warnings = []
    if reading.stated_total is not None and reading.stated_total[0] != total:
        warnings.append(
            f"{panel.label} on {visit.day}: the response {_name(reading.sources[0])} states a "
            f"total of {reading.stated_total[0]:g} but its items add up to {total}; the items' "
            "sum was used"
        )
    if panel.column in visit.measures:
        previous_path = visit.measure_paths[panel.column]
        replaced = [o for o in visit.observations if previous_path.startswith(o.path + ".")]
        if visit.measures[panel.column] != total:
            where = _name(replaced[0]) if replaced else previous_path
            warnings.append(
                f"{panel.label} on {visit.day}: the total Observation {where} says "
                f"{visit.measures[panel.column]:g}, the {_source_word(reading)} "
                f"({', '.join(_name(s) for s in reading.sources[:1])}) add up to {total}; "
                f"the {_source_word(reading)} were used"
                if reading.kind == "items"
                else f"{panel.label} on {visit.day}: the total Observation {where} says "
                f"{visit.measures[panel.column]:g}, the QuestionnaireResponse "
                f"{_name(reading.sources[0])} adds up to {total}; the response was used"
            )
        for observation in replaced:
            visit.observations.remove(observation)
    visit.measures[panel.column] = float(total)
    visit.measure_paths[panel.column] = reading.path
    if panel is PHQ9:
        visit.measures[SELF_HARM_ITEM] = float(reading.values[SELF_HARM_CODE])
        visit.measure_paths[SELF_HARM_ITEM] = reading.paths[SELF_HARM_CODE]
    visit.observations.extend(reading.sources)
    return warnings


# --- QuestionnaireResponse -------------------------------------------------------------


def _read_response(
    response: Located,
    forms: _Forms,
    by_source: dict[int, Visit],
    visits: Sequence[Visit],
    left_out: dict[int, str],
    patient: Located,
    index: ReferenceIndex,
    issues: list[FhirIssue],
) -> list[_Reading]:
    model, path = response.model, response.path
    if model.status in _IGNORED_STATUSES:
        return []
    items = list(_flatten(model.item or (), f"{path}.item"))
    codes, form_panels = forms.of(model)
    panels = _panels_of(model.questionnaire, items, codes)
    panels += [panel for panel in form_panels if panel not in panels]
    if not panels:
        return []  # another questionnaire
    if not refers_to(model.subject, patient, index):
        issues.append(FhirIssue(f"{path}.subject", "refers to a different Patient"))
        return []
    visit, problem = session_of(response, by_source, visits, left_out, index)
    if problem is not None:
        issues.append(problem)
        return []
    readings = {
        panel.column: _Reading(panel, visit, path, [response], "response") for panel in panels
    }
    for item, item_path in items:
        code = _item_code(item.linkId, item.definition, codes)
        panel = PANEL_OF_ITEM.get(code) if code else None
        if panel is None or panel.column not in readings:
            stated = next((p for p in panels if code == p.total_code), None)
            if stated is not None:
                value = _stated_total(item)
                if value is not None:
                    readings[stated.column].stated_total = (value, item_path)
            continue
        reading = readings[panel.column]
        if code in reading.values or code in reading.paths:
            issues.append(
                FhirIssue(item_path, f"{panel.name(code)} is answered twice in this response")
            )
            continue
        answers = item.answer or []
        if not answers:
            continue  # unanswered: named below as missing
        if len(answers) > 1:
            message = f"{panel.name(code)} has {len(answers)} answers; it takes one"
            issues.append(FhirIssue(f"{item_path}.answer", message, "value"))
            continue
        value, problem_text = _answer_value(answers[0], panel, code)
        answer_path = f"{item_path}.answer[0]"
        if problem_text is not None:
            issues.append(FhirIssue(answer_path, problem_text, "value"))
            reading.paths[code] = answer_path
            continue
        reading.values[code] = value
        reading.paths[code] = answer_path
    return list(readings.values())


class _Forms:
    """The Questionnaires sent (or contained in a response): linkId -> LOINC code per form."""

    def __init__(self, questionnaires: Sequence[Located]) -> None:
        self._by_key: dict[str, Any] = {}
        for questionnaire in questionnaires:
            model = questionnaire.model
            if model.url:
                self._by_key.setdefault(str(model.url), model)
            if model.id:
                self._by_key.setdefault(f"Questionnaire/{model.id}", model)
            if questionnaire.full_url:
                self._by_key.setdefault(questionnaire.full_url, model)

    def of(self, response: Any) -> tuple[dict[str, str], list[Panel]]:
        """The linkId -> LOINC item code map of a response's Questionnaire, and its panels."""
        form = self._find(response)
        if form is None:
            return {}, []
        codes: dict[str, str] = {}
        for item in _form_items(form.item or ()):
            for coding in item.code or ():
                if coding.system == LOINC and (
                    coding.code in PANEL_OF_ITEM or coding.code in _TOTAL_CODES
                ):
                    codes.setdefault(item.linkId, coding.code)
        panels = [
            panel
            for panel in PANELS
            if any(c.system == LOINC and c.code == panel.code for c in form.code or ())
        ]
        return codes, panels

    def _find(self, response: Any) -> Any:
        canonical = response.questionnaire
        if not canonical:
            return None
        canonical = str(canonical)
        if canonical.startswith("#"):
            return next(
                (
                    c
                    for c in response.contained or ()
                    if c.get_resource_type() == "Questionnaire" and c.id == canonical[1:]
                ),
                None,
            )
        url = canonical.split("|", 1)[0]
        return self._by_key.get(url) or self._by_key.get(_relative_questionnaire(url))


def _relative_questionnaire(url: str) -> str:
    parts = [part for part in url.split("/") if part]
    return "/".join(parts[-2:])


def _form_items(items: Sequence[Any]):
    for item in items:
        yield item
        yield from _form_items(item.item or ())


def _flatten(items: Sequence[Any], path: str):
    """Every item of a response, with its path, groups and answers' nested items walked."""
    for number, item in enumerate(items):
        item_path = f"{path}[{number}]"
        yield item, item_path
        yield from _flatten(item.item or (), f"{item_path}.item")
        for answer_number, answer in enumerate(item.answer or ()):
            yield from _flatten(answer.item or (), f"{item_path}.answer[{answer_number}].item")


def _last_segment(text: str | None) -> str | None:
    if not text:
        return None
    text = str(text).split("|", 1)[0].rstrip("/")
    for separator in ("#", "/"):
        text = text.rsplit(separator, 1)[-1]
    return text or None


def _item_code(
    link_id: str | None, definition: Any, codes: Mapping[str, str] | None = None
) -> str | None:
    """The LOINC code an item stands for (by its Questionnaire item's code, by linkId, else by
    definition), if it names one."""
    if codes and link_id in codes:
        return codes[link_id]
    for candidate in (_last_segment(link_id), _last_segment(definition)):
        if candidate in PANEL_OF_ITEM or candidate in _TOTAL_CODES:
            return candidate
    return _last_segment(link_id)


def _panels_of(
    questionnaire: Any, items: Sequence[tuple[Any, str]], codes: Mapping[str, str]
) -> list[Panel]:
    named = _last_segment(questionnaire)
    panels = [panel for panel in PANELS if panel.code == named]
    for item, _ in items:
        code = _item_code(item.linkId, item.definition, codes)
        panel = PANEL_OF_ITEM.get(code or "") or next((p for p in PANELS if code == p.code), None)
        if panel is not None and panel not in panels:
            panels.append(panel)
    return panels


def _stated_total(item: Any) -> float | None:
    for answer in item.answer or ():
        if answer.valueInteger is not None:
            return float(answer.valueInteger)
        if answer.valueDecimal is not None:
            return float(answer.valueDecimal)
        if answer.valueQuantity is not None and answer.valueQuantity.value is not None:
            return float(answer.valueQuantity.value)
    return None


def _answer_value(answer: Any, panel: Panel, code: str) -> tuple[int, None] | tuple[None, str]:
    """The 0-3 score of one answer, or why it cannot be read (never quoting the value)."""
    if answer.valueCoding is not None:
        return _coding_value([answer.valueCoding], panel, code)
    if answer.valueInteger is not None:
        return _in_range(answer.valueInteger, panel, code)
    present = [
        name
        for name in type(answer).model_fields
        if name.startswith("value") and "__" not in name and getattr(answer, name) is not None
    ]
    if present:
        message = (
            f"{panel.name(code)}: {present[0]} is not a readable answer; send valueCoding "
            "(a LOINC answer code, or an ordinalValue extension) or valueInteger"
        )
        return None, message
    return None, f"{panel.name(code)}: the answer has no value"


def _coding_value(codings: Sequence[Any], panel: Panel, code: str) -> tuple[Any, Any]:
    for coding in codings:
        ordinal = _ordinal(coding)
        by_code = ANSWER_SCORES.get(coding.code) if coding.system == LOINC else None
        if by_code is not None and ordinal is not None and ordinal != by_code:
            message = (
                f"{panel.name(code)}: the answer's ordinalValue disagrees with its LOINC "
                "answer code"
            )
            return None, message
        if by_code is not None:
            return by_code, None
        if ordinal is not None:
            return _in_range(ordinal, panel, code)
    message = (
        f"{panel.name(code)}: the answer code is not one of the LOINC answers LA6568-5, "
        "LA6569-3, LA6570-1, LA6571-9 and carries no ordinalValue extension"
    )
    return None, message


def _ordinal(coding: Any) -> float | None:
    for extension in coding.extension or ():
        if extension.url in ORDINAL_VALUE_URLS:
            for element in ("valueDecimal", "valueInteger"):
                value = getattr(extension, element, None)
                if value is not None:
                    return float(value)
    return None


def _in_range(value: Any, panel: Panel, code: str) -> tuple[int, None] | tuple[None, str]:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if math.isfinite(number) and number.is_integer() and 0 <= number <= 3:
        return int(number), None
    return None, f"{panel.name(code)}: the answer must be a whole number from 0 to 3"


# --- item-level Observations -------------------------------------------------------------


def _item_code_of_observation(model: Any) -> str | None:
    for coding in getattr(getattr(model, "code", None), "coding", None) or ():
        if coding.system == LOINC and coding.code in PANEL_OF_ITEM:
            return coding.code
    return None


def _read_item_observations(
    observations: Sequence[Located],
    by_source: dict[int, Visit],
    visits: Sequence[Visit],
    left_out: dict[int, str],
    patient: Located,
    index: ReferenceIndex,
    issues: list[FhirIssue],
) -> list[_Reading]:
    readings: dict[tuple[int, str], _Reading] = {}
    for observation in observations:
        model, path = observation.model, observation.path
        if model.status not in USABLE:
            continue  # not a result yet (or withdrawn)
        code = _item_code_of_observation(model)
        if code is None:
            continue
        panel = PANEL_OF_ITEM[code]
        if not refers_to(model.subject, patient, index):
            issues.append(FhirIssue(f"{path}.subject", "refers to a different Patient"))
            continue
        value, element, problem_text = _observation_value(model, panel, code)
        if element is None:
            continue  # no value (dataAbsentReason): the item is missing
        if problem_text is not None:
            issues.append(FhirIssue(f"{path}.{element}", problem_text, "value"))
            continue
        visit, problem = session_of(observation, by_source, visits, left_out, index)
        if problem is not None:
            issues.append(problem)
            continue
        key = (id(visit), panel.column)
        reading = readings.get(key)
        if reading is None:
            reading = readings[key] = _Reading(panel, visit, path, [], "items")
        if code in reading.values:
            issues.append(
                FhirIssue(
                    path,
                    f"a second answer to {panel.name(code)} for the session on {visit.day}; "
                    f"the first is at {reading.paths[code]}; send one",
                )
            )
            continue
        reading.values[code] = value
        reading.paths[code] = f"{path}.{element}"
        reading.sources.append(observation)
    return list(readings.values())


def _observation_value(model: Any, panel: Panel, code: str) -> tuple[Any, Any, Any]:
    """``(score, element, problem)``; element None when the Observation has no value."""
    if model.valueCodeableConcept is not None:
        value, problem = _coding_value(model.valueCodeableConcept.coding or (), panel, code)
        return value, "valueCodeableConcept", problem
    if model.valueInteger is not None:
        value, problem = _in_range(model.valueInteger, panel, code)
        return value, "valueInteger", problem
    if model.valueQuantity is not None:
        if model.valueQuantity.value is None:
            return None, None, None
        value, problem = _in_range(model.valueQuantity.value, panel, code)
        return value, "valueQuantity.value", problem
    if model.valueString is not None:
        try:
            number: Any = float(model.valueString.strip())
        except ValueError:
            number = None
        value, problem = _in_range(number, panel, code)
        return value, "valueString", problem
    for element in type(model).model_fields:
        is_value = element.startswith("value") and "__" not in element
        if is_value and getattr(model, element) is not None:
            message = (
                f"{panel.name(code)}: {element} is not a readable answer; send "
                "valueCodeableConcept (a LOINC answer code), valueInteger or valueQuantity"
            )
            return None, element, message
    return None, None, None
