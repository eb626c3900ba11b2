"""The api.md example client as a FHIR Bundle (OpenAPI example, docs and tests)."""

from __future__ import annotations

from typing import Any

from service.fhir.codes import (
    MEASURE_BY_COLUMN,
    OBSERVATION_CATEGORY,
    PRIMARY_CONCERN_URL,
    PRIOR_TREATMENT_URL,
    UCUM,
)

AMBULATORY = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
    "code": "AMB",
    "display": "ambulatory",
}


def _questionnaire_total(
    resource_id: str, column: str, value: float, *, encounter: str | None, effective: str
) -> dict[str, Any]:
    """An Observation of one questionnaire total, as we expect record systems to send it."""
    measure = MEASURE_BY_COLUMN[column]
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "id": resource_id,
        "status": "final",
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}
        ],
        "code": {
            "coding": [
                {"system": measure.system, "code": measure.code, "display": measure.display}
            ]
        },
        "subject": {"reference": "Patient/c-001"},
        "effectiveDateTime": effective,
        "valueQuantity": {"value": value, "unit": "{score}", "system": UCUM, "code": "{score}"},
    }
    if encounter is not None:
        observation["encounter"] = {"reference": encounter}
    return observation


def _example_bundle() -> dict[str, Any]:
    patient = {
        "resourceType": "Patient",
        "id": "c-001",
        "extension": [
            {"url": PRIMARY_CONCERN_URL, "valueCode": "depression"},
            {"url": PRIOR_TREATMENT_URL, "valueBoolean": False},
        ],
        "gender": "female",
        "birthDate": "1991-06-15",
    }
    attended = {
        "resourceType": "Encounter",
        "id": "e-001-1",
        "status": "finished",
        "class": AMBULATORY,
        "subject": {"reference": "Patient/c-001"},
        "participant": [{"individual": {"reference": "Practitioner/t-07"}}],
        "period": {"start": "2026-03-02T10:00:00+01:00", "end": "2026-03-02T10:50:00+01:00"},
        "serviceProvider": {"reference": "Organization/north"},
    }
    no_show = {
        "resourceType": "Appointment",
        "id": "a-001-2",
        "status": "noshow",
        "start": "2026-03-09T10:00:00+01:00",
        "end": "2026-03-09T10:50:00+01:00",
        "participant": [
            {"actor": {"reference": "Patient/c-001"}, "status": "accepted"},
            {"actor": {"reference": "Practitioner/t-07"}, "status": "accepted"},
        ],
    }
    scores = {"wai_client": 3.4, "wai_therapist": 3.9, "srs": 33, "phq9": 18, "gad7": 12}
    observations = [
        _questionnaire_total(
            f"o-001-1-{column.replace('_', '-')}",
            column,
            value,
            encounter="Encounter/e-001-1",
            effective="2026-03-02T10:50:00+01:00",
        )
        for column, value in scores.items()
    ]
    resources = [patient, attended, no_show, *observations]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": f"https://ehr.example.org/fhir/{r['resourceType']}/{r['id']}",
                "resource": r,
            }
            for r in resources
        ],
    }


#: The client of api.md's example request, as a FHIR Bundle of the same facts.
EXAMPLE_BUNDLE: dict[str, Any] = _example_bundle()
