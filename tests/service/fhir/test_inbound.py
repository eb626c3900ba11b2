"""FHIR in: Bundles map to the JSON API's request, and bad ones to issues at FHIR paths."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.fhir import (
    FhirInputError,
    read_bundle,
    read_resources,
    request_from_bundle,
    request_from_resources,
)
from service.fhir.codes import LOINC
from service.fhir.examples import EXAMPLE_BUNDLE
from service.schemas import AssessmentRequest
from tests.support.fhir_bundles import client_bundle, entry_of, json_request, observation
from tests.support.fhir_mutations import json_documents, mutate


def _example() -> dict[str, Any]:
    return copy.deepcopy(EXAMPLE_BUNDLE)


def _api_example() -> AssessmentRequest:
    return AssessmentRequest.model_validate(
        AssessmentRequest.model_config["json_schema_extra"]["examples"][0]
    )


def _paths(bundle: object) -> dict[str, str]:
    """Each issue's path with its message, for the failing input."""
    with pytest.raises(FhirInputError) as raised:
        request_from_bundle(bundle)
    return {issue.path: issue.message for issue in raised.value.issues}


def _resource(bundle: dict[str, Any], resource_type: str, number: int = 0) -> dict[str, Any]:
    return bundle["entry"][entry_of(bundle, resource_type, number)]["resource"]


def test_the_example_bundle_is_the_api_example_request():
    assert request_from_bundle(_example()) == _api_example()


@pytest.mark.parametrize("link", ["encounter", "date"])
def test_synthetic_clients_map_to_the_same_request_as_their_json(synthetic_clients, link):
    checked = 0
    for number, (client, sessions) in enumerate(synthetic_clients):
        bundle = client_bundle(
            client,
            sessions,
            link=link,
            missed_as=("encounter", "appointment", "alternate")[number % 3],
            bundle_type="searchset" if number % 2 else "collection",
            shuffle_seed=number,
        )
        expected = AssessmentRequest.model_validate(json_request(client, sessions))
        assert request_from_bundle(bundle) == expected, client["client_id"]
        checked += 1
    assert checked == len(synthetic_clients) >= 50


def test_loose_resources_map_like_their_bundle():
    resources = [entry["resource"] for entry in _example()["entry"]]
    assert request_from_resources(resources) == _api_example()
    located = [f"prefetch[{n}]" for n in range(len(resources))]
    resources[0] = {**resources[0], "birthDate": "2020-01-01"}
    with pytest.raises(FhirInputError) as raised:
        read_resources(resources, located)
    assert [issue.path for issue in raised.value.issues] == ["prefetch[0].birthDate"]


def test_the_basis_is_what_the_sessions_used():
    episode = read_bundle(_example())
    assert episode.patient_reference == {"reference": "Patient/c-001"}
    first = episode.basis(1)
    assert first[0] == {"reference": "Encounter/e-001-1"}
    assert len(first) == 6  # the encounter and its five totals
    assert episode.basis(2) == [*first, {"reference": "Appointment/a-001-2"}]


def test_references_by_full_url_work_for_resources_without_ids():
    bundle = _example()
    urls = {}
    for number, entry in enumerate(bundle["entry"]):
        resource = entry["resource"]
        old = f"{resource['resourceType']}/{resource.pop('id')}"
        urls[old] = entry["fullUrl"] = f"urn:uuid:00000000-0000-4000-8000-{number:012d}"
    patient = _resource(bundle, "Patient")
    patient["identifier"] = [{"system": "urn:oid:1.2.3", "value": "c-001"}]
    for entry in bundle["entry"]:
        resource = entry["resource"]
        for element in ("subject", "encounter"):
            if element in resource:
                resource[element]["reference"] = urls[resource[element]["reference"]]
    episode = read_bundle(bundle)
    assert episode.request == _api_example()
    assert episode.patient_reference == {"reference": urls["Patient/c-001"]}
    assert episode.basis(1)[0] == {"reference": urls["Encounter/e-001-1"]}


def test_sessions_are_ordered_by_date_not_by_entry_order():
    bundle = _example()
    bundle["entry"].reverse()
    assert request_from_bundle(bundle) == _api_example()


def test_gender_age_concern_and_prior_treatment_come_from_the_patient():
    bundle = _example()
    patient = _resource(bundle, "Patient")
    patient["gender"] = "other"
    patient["birthDate"] = "1991-03-02"  # 35th birthday on the intake date
    del patient["extension"]
    client = request_from_bundle(bundle).client
    assert (client.gender, client.age) == ("nonbinary", 35)
    assert (client.primary_concern, client.prior_treatment) == ("other", None)
    del patient["gender"]
    patient["birthDate"] = "1991"  # a year only: read as 1 January
    client = request_from_bundle(bundle).client
    assert (client.gender, client.age) == ("unknown", 35)


def test_clinic_falls_back_to_the_managing_organization():
    bundle = _example()
    del _resource(bundle, "Encounter")["serviceProvider"]
    _resource(bundle, "Patient")["managingOrganization"] = {"reference": "Organization/south"}
    assert request_from_bundle(bundle).client.clinic_id == "south"
    del _resource(bundle, "Patient")["managingOrganization"]
    encounter = entry_of(bundle, "Encounter")
    assert f"Bundle.entry[{encounter}].resource.serviceProvider" in _paths(bundle)


def test_the_therapist_is_the_first_practitioner_not_a_relative():
    bundle = _example()
    encounter = _resource(bundle, "Encounter")
    encounter["participant"].insert(0, {"individual": {"reference": "RelatedPerson/mother"}})
    assert request_from_bundle(bundle).client.therapist_id == "t-07"
    del encounter["participant"]
    at = entry_of(bundle, "Encounter")
    assert f"Bundle.entry[{at}].resource.participant" in _paths(bundle)


def test_an_entered_in_error_encounter_is_no_session():
    bundle = _example()
    wrong = copy.deepcopy(_resource(bundle, "Encounter"))
    wrong.update(id="e-wrong", status="entered-in-error")
    wrong["period"] = {"start": "2026-03-05T10:00:00+01:00"}
    bundle["entry"].append({"resource": wrong})
    assert request_from_bundle(bundle) == _api_example()
    bundle["entry"].append(
        {
            "resource": observation(
                "o-wrong",
                "srs",
                30,
                subject="Patient/c-001",
                encounter="Encounter/e-wrong",
                effective="2026-03-05",
            )
        }
    )
    path = f"Bundle.entry[{len(bundle['entry']) - 1}].resource.encounter"
    assert "entered-in-error" in _paths(bundle)[path]


def test_observations_that_are_not_our_measures_or_not_final_are_ignored():
    bundle = _example()
    heart_rate = observation(
        "hr", "phq9", 72, subject="Patient/c-001", encounter=None, effective="2026-03-02"
    )
    heart_rate["code"] = {"coding": [{"system": LOINC, "code": "8867-4"}]}
    draft = observation(
        "draft", "ors", 12, subject="Patient/c-001", encounter=None, effective="2026-03-02"
    )
    draft["status"] = "preliminary"
    bundle["entry"] += [{"resource": heart_rate}, {"resource": draft}]
    episode = read_bundle(bundle)
    assert episode.request == _api_example()
    assert {"reference": "Observation/hr"} not in episode.basis(2)


def test_totals_may_come_as_integer_or_numeric_string():
    bundle = _example()
    phq9 = next(
        e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "o-001-1-phq9"
    )
    del phq9["valueQuantity"]
    phq9["valueString"] = " 18 "
    assert request_from_bundle(bundle) == _api_example()
    phq9["valueString"] = "eighteen"
    index = next(i for i, e in enumerate(bundle["entry"]) if e["resource"] is phq9)
    assert f"Bundle.entry[{index}].resource.valueString" in _paths(bundle)


# --- malformed input: every problem at its path -----------------------------------------


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ([], "Bundle"),
        ("Bundle", "Bundle"),
        ({"resourceType": "Patient", "id": "c-001"}, "Bundle.resourceType"),
        ({"resourceType": "Bundle", "type": "transaction"}, "Bundle.type"),
        ({"resourceType": "Bundle", "type": "collection", "entry": {}}, "Bundle.entry"),
        (
            {"resourceType": "Bundle", "type": "collection", "entry": [{}]},
            "Bundle.entry[0].resource",
        ),
        (
            {"resourceType": "Bundle", "type": "collection", "timestamp": "today"},
            "Bundle.timestamp",
        ),
        ({"resourceType": "Bundle", "type": "collection"}, "Bundle.entry"),
    ],
)
def test_what_is_not_a_client_bundle_is_named(body, path):
    assert path in _paths(body)


def test_a_missing_patient_and_a_second_patient_are_named():
    bundle = _example()
    patient_at = entry_of(bundle, "Patient")
    twice = copy.deepcopy(bundle)
    other = copy.deepcopy(twice["entry"][patient_at]["resource"])
    other["id"] = "c-002"
    twice["entry"].append({"resource": other})
    assert "second Patient" in _paths(twice)[f"Bundle.entry[{len(twice['entry']) - 1}].resource"]
    del bundle["entry"][patient_at]
    assert _paths(bundle) == {"Bundle.entry": "a Patient is required"}


def test_every_invalid_fhir_element_is_named_at_once():
    bundle = _example()
    encounter, phq9 = entry_of(bundle, "Encounter"), entry_of(bundle, "Observation", 3)
    bundle["entry"][encounter]["resource"]["period"]["start"] = "2026-13-02"
    bundle["entry"][phq9]["resource"]["valueQuantity"]["value"] = "a lot"
    bundle["entry"][phq9]["resource"]["colour"] = "blue"
    paths = _paths(bundle)
    assert set(paths) == {
        f"Bundle.entry[{encounter}].resource.period.start",
        f"Bundle.entry[{phq9}].resource.valueQuantity.value",
        f"Bundle.entry[{phq9}].resource.colour",
    }


def test_contract_violations_are_named_at_their_fhir_element():
    bundle = _example()
    phq9 = next(
        i for i, e in enumerate(bundle["entry"]) if e["resource"].get("id") == "o-001-1-phq9"
    )
    bundle["entry"][phq9]["resource"]["valueQuantity"]["value"] = 30
    patient = entry_of(bundle, "Patient")
    bundle["entry"][patient]["resource"]["birthDate"] = "2015-01-01"
    bundle["entry"][patient]["resource"]["extension"][0]["valueCode"] = "grief"
    paths = _paths(bundle)
    assert set(paths) == {
        f"Bundle.entry[{phq9}].resource.valueQuantity.value",
        f"Bundle.entry[{patient}].resource.birthDate",
        f"Bundle.entry[{patient}].resource.extension[0].valueCode",
    }
    assert paths[f"Bundle.entry[{phq9}].resource.valueQuantity.value"].startswith(
        "sessions[0].phq9: "
    )
    assert "16" in paths[f"Bundle.entry[{patient}].resource.birthDate"]


def test_a_measure_on_a_missed_session_is_an_error():
    bundle = _example()
    late = observation(
        "o-late", "srs", 30, subject="Patient/c-001", encounter=None, effective="2026-03-09"
    )
    bundle["entry"].append({"resource": late})
    at = len(bundle["entry"]) - 1
    assert "missed" in _paths(bundle)[f"Bundle.entry[{at}].resource.effectiveDateTime"]
    # The same with the no-show recorded as a cancelled Encounter the Observation names.
    _resource(bundle, "Appointment")["status"] = "booked"  # kept appointments are no session
    cancelled = copy.deepcopy(_resource(bundle, "Encounter"))
    cancelled.update(id="e-002", status="cancelled", period={"start": "2026-03-09"})
    bundle["entry"].append({"resource": cancelled})
    late["encounter"] = {"reference": "Encounter/e-002"}
    assert "missed" in _paths(bundle)[f"Bundle.entry[{at}].resource.encounter"]


def test_observations_placed_by_date_need_exactly_one_session_that_day():
    bundle = _example()
    extra = observation(
        "o-x", "ors", 20, subject="Patient/c-001", encounter=None, effective="2026-03-04"
    )
    bundle["entry"].append({"resource": extra})
    at = len(bundle["entry"]) - 1
    assert (
        "no session on 2026-03-04"
        in _paths(bundle)[f"Bundle.entry[{at}].resource.effectiveDateTime"]
    )
    del extra["effectiveDateTime"]
    assert f"Bundle.entry[{at}].resource.effective[x]" in _paths(bundle)
    extra["effectiveDateTime"] = "2026-03-02"
    assert request_from_bundle(bundle).sessions[0].ors == 20


def test_a_second_total_of_one_measure_for_a_session_is_an_error():
    bundle = _example()
    again = observation(
        "o-again", "phq9", 17, subject="Patient/c-001", encounter=None, effective="2026-03-02"
    )
    bundle["entry"].append({"resource": again})
    message = _paths(bundle)[f"Bundle.entry[{len(bundle['entry']) - 1}].resource"]
    assert "second PHQ-9" in message


def test_resources_of_another_patient_are_refused():
    bundle = _example()
    _resource(bundle, "Observation")["subject"] = {"reference": "Patient/someone-else"}
    at = entry_of(bundle, "Observation")
    assert f"Bundle.entry[{at}].resource.subject" in _paths(bundle)


def test_an_encounter_status_that_says_nothing_about_attendance_is_an_error():
    bundle = _example()
    _resource(bundle, "Encounter")["status"] = "unknown"
    assert f"Bundle.entry[{entry_of(bundle, 'Encounter')}].resource.status" in _paths(bundle)


def test_issues_never_quote_the_input_values():
    bundle = _example()
    patient = _resource(bundle, "Patient")
    patient["birthDate"] = "1850-07-21"
    patient["extension"][0]["valueCode"] = "secret-diagnosis"
    messages = " ".join(_paths(bundle).values())
    assert "1850" not in messages and "secret-diagnosis" not in messages


def test_a_resource_sent_twice_is_read_once_unless_the_copies_differ():
    bundle = _example()
    bundle["entry"] += copy.deepcopy(bundle["entry"])
    assert request_from_bundle(bundle) == _api_example()
    copy_of_phq9 = bundle["entry"][
        len(bundle["entry"]) // 2 + entry_of(_example(), "Observation", 3)
    ]
    copy_of_phq9["resource"]["valueQuantity"]["value"] = 17
    at = bundle["entry"].index(copy_of_phq9)
    assert "twice with different content" in _paths(bundle)[f"Bundle.entry[{at}].resource"]


def test_a_bundle_is_not_changed_by_reading_it():
    bundle = _example()
    before = copy.deepcopy(bundle)
    read_bundle(bundle)
    assert bundle == before


# --- fuzzing: whatever arrives, a request or FhirInputError --------------------------------


def _reads_or_explains(document: Any) -> None:
    try:
        request = request_from_bundle(document)
    except FhirInputError as error:
        assert error.issues and all(issue.path and issue.message for issue in error.issues)
    else:
        assert isinstance(request, AssessmentRequest)


@settings(max_examples=300, deadline=None)
@given(json_documents)
def test_any_json_gives_a_request_or_fhir_input_error(document):
    _reads_or_explains(document)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_bundles_give_a_request_or_fhir_input_error(data):
    document = _example()
    for _ in range(data.draw(st.integers(1, 4))):
        if data.draw(st.integers(0, 9)) == 0:
            document = mutate(document, data.draw)
        else:  # mostly inside one resource, where the mapping's own rules are
            at = data.draw(st.integers(0, len(document["entry"]) - 1))
            resource = document["entry"][at]["resource"]
            document["entry"][at] = {"resource": mutate(resource, data.draw)}
        if not isinstance(document, dict) or not isinstance(document.get("entry"), list):
            break
        entries = document["entry"]
        if not entries or not all(isinstance(e, dict) and "resource" in e for e in entries):
            break
    _reads_or_explains(document)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_loose_resources_give_a_request_or_fhir_input_error(data):
    resources = [entry["resource"] for entry in _example()["entry"]]
    at = data.draw(st.integers(0, len(resources) - 1))
    resources[at] = mutate(resources[at], data.draw)
    try:
        request = request_from_resources(resources)
    except FhirInputError as error:
        assert all(issue.path.startswith("resources") for issue in error.issues)
    else:
        assert isinstance(request, AssessmentRequest)
