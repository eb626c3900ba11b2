"""PHQ-9 and GAD-7 as record systems send them, for the tests: responses and item Observations.

Answers come in the three forms the mapping reads (a LOINC answer code, ``valueInteger``, a
coding of another system with an ``ordinalValue`` extension), so one response exercises all.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Literal

from service.fhir.codes import LOINC
from service.fhir.examples import EXAMPLE_BUNDLE
from service.fhir.questionnaires import ANSWER_SCORES, GAD7, PHQ9, Panel

ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
LOCAL_ANSWERS = "https://ehr.example.org/fhir/CodeSystem/frequency"
#: Score -> LOINC answer code.
ANSWER_CODE = {score: code for code, score in ANSWER_SCORES.items()}
#: The example client's session 1 (PHQ-9 18, GAD-7 12) as item answers; PHQ-9 item 9 is 2.
PHQ9_ANSWERS = (3, 2, 2, 2, 2, 2, 1, 2, 2)
GAD7_ANSWERS = (2, 2, 2, 2, 1, 1, 2)

Style = Literal["code", "integer", "ordinal", "mixed"]


def answer(score: int, style: Style, number: int = 0) -> dict[str, Any]:
    """One answer of ``score`` in ``style`` (``mixed`` cycles through the three by ``number``)."""
    if style == "mixed":
        style = ("code", "integer", "ordinal")[number % 3]
    if style == "integer":
        return {"valueInteger": score}
    if style == "ordinal":
        return {
            "valueCoding": {
                "system": LOCAL_ANSWERS,
                "code": f"f{score}",
                "extension": [{"url": ORDINAL_VALUE, "valueDecimal": score}],
            }
        }
    return {"valueCoding": {"system": LOINC, "code": ANSWER_CODE[score]}}


def response(
    resource_id: str,
    panel: Panel,
    scores: Sequence[int | None],
    *,
    patient: str = "Patient/c-001",
    encounter: str | None = "Encounter/e-001-1",
    authored: str = "2026-03-02T10:45:00+01:00",
    style: Style = "mixed",
    canonical: bool = True,
    link_prefix: str = "",
    total: int | None = None,
) -> dict[str, Any]:
    """A QuestionnaireResponse to ``panel``; a None score leaves that item unanswered."""
    items = []
    for number, ((code, display), score) in enumerate(zip(panel.items, scores, strict=True)):
        item: dict[str, Any] = {"linkId": f"{link_prefix}{code}", "text": display}
        if score is not None:
            item["answer"] = [answer(score, style, number)]
        items.append(item)
    if total is not None:
        items.append({"linkId": panel.total_code, "answer": [{"valueInteger": total}]})
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": resource_id,
        "status": "completed",
        "subject": {"reference": patient},
        "authored": authored,
        "item": items,
    }
    if canonical:
        resource["questionnaire"] = f"http://loinc.org/q/{panel.code}"
    if encounter is not None:
        resource["encounter"] = {"reference": encounter}
    return resource


def item_observations(
    prefix: str,
    panel: Panel,
    scores: Sequence[int | None],
    *,
    encounter: str | None = "Encounter/e-001-1",
    effective: str = "2026-03-02T10:45:00+01:00",
) -> list[dict[str, Any]]:
    """US Core style item Observations (``valueCodeableConcept``) of the answered items."""
    observations = []
    for (code, display), score in zip(panel.items, scores, strict=True):
        if score is None:
            continue
        observation: dict[str, Any] = {
            "resourceType": "Observation",
            "id": f"{prefix}-{code}",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
            "subject": {"reference": "Patient/c-001"},
            "effectiveDateTime": effective,
            "valueCodeableConcept": {
                "coding": [{"system": LOINC, "code": ANSWER_CODE[score]}],
            },
        }
        if encounter is not None:
            observation["encounter"] = {"reference": encounter}
        observations.append(observation)
    return observations


def example_with(*resources: dict[str, Any], keep_totals: bool = False) -> dict[str, Any]:
    """The example Bundle with ``resources`` added and, unless kept, its PHQ-9/GAD-7 totals
    taken out."""
    bundle = copy.deepcopy(EXAMPLE_BUNDLE)
    if not keep_totals:
        bundle["entry"] = [
            entry
            for entry in bundle["entry"]
            if entry["resource"]["id"] not in ("o-001-1-phq9", "o-001-1-gad7")
        ]
    bundle["entry"] += [
        {"fullUrl": f"https://ehr.example.org/fhir/{r['resourceType']}/{r['id']}", "resource": r}
        for r in resources
    ]
    return bundle


def example_responses(**options: Any) -> list[dict[str, Any]]:
    """The example client's session 1 PHQ-9 and GAD-7 as two QuestionnaireResponses."""
    return [
        response("qr-phq9", PHQ9, PHQ9_ANSWERS, **options),
        response("qr-gad7", GAD7, GAD7_ANSWERS, **options),
    ]


def promoted_registry(trained, directory):
    """The trained test model registered as champion in a new store under ``directory``."""
    from tests.support.registry import Registry, register_trained, registry_settings

    settings = registry_settings(directory)
    version = register_trained(trained, settings, note="questionnaire input tests")
    return Registry(tracking_uri=settings.tracking_uri, version=version)
