"""Reading a Bulk Data export: which files, which patient each line belongs to, and what is
reported when a line or a patient cannot be read (scoring itself: tests/cli/test_score_fhir.py)."""

from __future__ import annotations

import json

import pytest

from service.fhir.bulk import PROBLEMS, export_files, patient_key, score_export


@pytest.mark.parametrize(
    ("resource", "key"),
    [
        ({"resourceType": "Patient", "id": "p1"}, "p1"),
        ({"resourceType": "Patient"}, None),
        ({"resourceType": "Encounter", "subject": {"reference": "Patient/p1"}}, "p1"),
        (
            {
                "resourceType": "Observation",
                "subject": {"reference": "https://ehr.example.org/fhir/Patient/p1/_history/3"},
            },
            "p1",
        ),
        ({"resourceType": "Observation", "subject": {"reference": "Group/g1"}}, None),
        ({"resourceType": "QuestionnaireResponse", "subject": {"display": "Ann"}}, None),
        ({"resourceType": "EpisodeOfCare", "patient": {"reference": "Patient/p1"}}, "p1"),
        (
            {
                "resourceType": "Appointment",
                "participant": [
                    {"actor": {"reference": "Practitioner/t1"}},
                    {"actor": {"reference": "Patient/p1"}},
                ],
            },
            "p1",
        ),
        ({"resourceType": "Appointment", "participant": "nonsense"}, None),
    ],
)
def test_each_resource_belongs_to_the_patient_it_names(resource, key):
    assert patient_key(resource) == key


def test_files_named_by_type_and_split_are_read_in_type_order(tmp_path):
    for name in (
        "Observation.2.ndjson",
        "Observation.10.ndjson",
        "Observation.1.ndjson",
        "Patient.ndjson",
        "Practitioner.ndjson",
        "notes.txt",
        "Encounter.ndjson",
    ):
        (tmp_path / name).write_text("")
    found, ignored = export_files(tmp_path)
    assert [path.name for _, path in found] == [
        "Patient.ndjson",
        "Encounter.ndjson",
        "Observation.1.ndjson",
        "Observation.2.ndjson",
        "Observation.10.ndjson",
    ]
    assert [path.name for path in ignored] == ["Practitioner.ndjson"]


def test_unreadable_lines_and_patients_are_reported_where_they_are(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    lines = {
        "Encounter.ndjson": [
            {
                "resourceType": "Encounter",
                "status": "finished",
                "subject": {"reference": "Patient/ghost"},
            },
            "[1, 2]",
            "{not json",
        ],
        "Observation.ndjson": [{"resourceType": "Observation", "status": "final"}],
    }
    for name, rows in lines.items():
        text = "\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows)
        (export / name).write_text(text + "\n")
    # No patient can be scored, so the model is never asked.
    result = score_export(
        None, export, tmp_path / "out", model_name="m", model_version="1", factors=0
    )
    assert result.scored == 0 and result.problem_count == 4
    where = [str(problem) for problem in result.problems]
    assert where[0].startswith("Encounter.ndjson:2: not a FHIR resource")
    assert where[1].startswith("Encounter.ndjson:3: not a JSON line")
    assert where[2].startswith("Observation.ndjson:1: names no Patient")
    assert where[3].startswith("Patient/ghost: not scored:")
    outcomes = (tmp_path / "out" / PROBLEMS).read_text().splitlines()
    assert len(outcomes) == 4
    assert not list((tmp_path / "out").glob(".score-fhir-*"))  # the buckets are gone
