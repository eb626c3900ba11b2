"""PHQ-9 and GAD-7 as QuestionnaireResponses and item Observations: totals, item 9, refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.fhir import FhirInputError, read_bundle
from service.fhir.questionnaires import GAD7, PHQ9
from service.schemas import AssessmentRequest
from service.security import Scope
from tests.support.fhir_mutations import mutate as _mutate
from tests.support.fhir_questionnaires import (
    GAD7_ANSWERS,
    PHQ9_ANSWERS,
    answer,
    example_responses,
    example_with,
    item_observations,
    promoted_registry,
    response,
)

URL = "/fhir/r4/$assess-dropout-risk"
FHIR_JSON = "application/fhir+json"


def _first_session(bundle: dict[str, Any]) -> dict[str, Any]:
    return read_bundle(bundle).request.sessions[0].model_dump()


def _issues(bundle: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(FhirInputError) as raised:
        read_bundle(bundle)
    return {issue.path: issue.message for issue in raised.value.issues}


def _api_example() -> dict[str, Any]:
    return AssessmentRequest.model_config["json_schema_extra"]["examples"][0]


@pytest.mark.parametrize("style", ["code", "integer", "ordinal", "mixed"])
def test_responses_give_the_totals_and_item_9(style):
    session = _first_session(example_with(*example_responses(style=style)))
    assert session["phq9"] == 18 and session["gad7"] == 12
    assert session["phq9_item9"] == 2


def test_items_are_found_by_link_id_path_without_a_canonical():
    responses = example_responses(canonical=False, link_prefix="/44249-1/")
    session = _first_session(example_with(*responses))
    assert (session["phq9"], session["gad7"], session["phq9_item9"]) == (18, 12, 2)


def test_items_in_groups_are_read():
    phq9 = response("qr-phq9", PHQ9, PHQ9_ANSWERS)
    phq9["item"] = [{"linkId": "44249-1", "item": phq9["item"]}]
    session = _first_session(example_with(phq9))
    assert session["phq9"] == 18


def test_a_response_placed_by_its_authored_date():
    responses = example_responses(encounter=None)
    session = _first_session(example_with(*responses))
    assert session["phq9"] == 18 and session["gad7"] == 12


def test_the_basis_names_the_responses_not_the_totals_they_replaced():
    episode = read_bundle(example_with(*example_responses(), keep_totals=True))
    references = {ref["reference"] for ref in episode.basis(1)}
    assert {"QuestionnaireResponse/qr-phq9", "QuestionnaireResponse/qr-gad7"} <= references
    assert "Observation/o-001-1-phq9" not in references
    assert "Observation/o-001-1-gad7" not in references
    assert episode.warnings == ()  # the totals agree with the items


def test_item_observations_give_the_totals_and_item_9():
    observations = item_observations("p", PHQ9, PHQ9_ANSWERS) + item_observations(
        "g", GAD7, GAD7_ANSWERS, encounter=None
    )
    episode = read_bundle(example_with(*observations))
    session = episode.request.sessions[0]
    assert (session.phq9, session.gad7, session.phq9_item9) == (18, 12, 2)
    references = {ref["reference"] for ref in episode.basis(1)}
    assert "Observation/p-44260-8" in references and "Observation/g-69736-7" in references


def test_item_9_alone_is_still_the_item_column_beside_a_total():
    (item9,) = item_observations("p", PHQ9, [None] * 8 + [3])
    session = _first_session(example_with(item9, keep_totals=True))
    assert (session["phq9"], session["phq9_item9"]) == (18, 3)


def test_a_response_wins_over_a_differing_total_and_says_so():
    phq9 = response("qr-phq9", PHQ9, (3, 3, 3, 3, 3, 3, 3, 3, 1))  # 25, not the total's 18
    episode = read_bundle(example_with(phq9, keep_totals=True))
    session = episode.request.sessions[0]
    assert session.phq9 == 25 and session.gad7 == 12  # GAD-7 still from its total
    (warning,) = episode.warnings
    assert "PHQ-9" in warning and "Observation/o-001-1-phq9" in warning
    assert "18" in warning and "25" in warning and "QuestionnaireResponse/qr-phq9" in warning


def test_a_response_wins_over_item_observations():
    phq9 = response("qr-phq9", PHQ9, PHQ9_ANSWERS)
    items = item_observations("p", PHQ9, (0,) * 9)
    episode = read_bundle(example_with(phq9, *items, keep_totals=False))
    assert episode.request.sessions[0].phq9 == 18
    (warning,) = episode.warnings
    assert "item Observations" in warning and "qr-phq9" in warning


def test_a_stated_total_that_differs_from_the_items_is_a_warning():
    phq9 = response("qr-phq9", PHQ9, PHQ9_ANSWERS, total=20)
    episode = read_bundle(example_with(phq9))
    assert episode.request.sessions[0].phq9 == 18
    (warning,) = episode.warnings
    assert "states a total of 20" in warning


def test_missing_items_are_refused_and_named():
    scores = list(PHQ9_ANSWERS)
    scores[2] = None
    scores[8] = None
    issues = _issues(example_with(response("qr-phq9", PHQ9, scores)))
    (message,) = issues.values()
    assert "PHQ-9 item 3 (44259-0)" in message and "PHQ-9 item 9 (44260-8)" in message
    assert "not prorated" in message


def test_missing_item_observations_are_refused_and_named():
    scores = list(GAD7_ANSWERS)
    scores[6] = None
    issues = _issues(example_with(*item_observations("g", GAD7, scores)))
    (message,) = issues.values()
    assert "GAD-7 item 7 (69736-7)" in message


@pytest.mark.parametrize(
    "bad",
    [
        {"valueCoding": {"system": "http://loinc.org", "code": "LA6572-7"}},
        {"valueInteger": 4},
        {"valueInteger": -1},
        {"valueString": "often"},
        {
            "valueCoding": {
                "system": "http://loinc.org",
                "code": "LA6571-9",
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/ordinalValue",
                        "valueDecimal": 1,
                    }
                ],
            }
        },
        {
            "valueCoding": {
                "system": "https://ehr.example.org/answers",
                "code": "x",
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/ordinalValue",
                        "valueDecimal": 2.5,
                    }
                ],
            }
        },
    ],
)
def test_an_answer_out_of_range_is_refused_and_names_the_item(bad):
    phq9 = response("qr-phq9", PHQ9, PHQ9_ANSWERS)
    phq9["item"][4]["answer"] = [bad]
    issues = _issues(example_with(phq9))
    (path,) = issues
    assert path.endswith(".item[4].answer[0]")
    assert "PHQ-9 item 5 (44251-7)" in issues[path]
    assert "often" not in issues[path]  # the value is never quoted


def test_an_item_observation_out_of_range_is_refused():
    items = item_observations("p", PHQ9, PHQ9_ANSWERS)
    items[0]["valueCodeableConcept"]["coding"][0]["code"] = "LA0000-0"
    issues = _issues(example_with(*items))
    (path,) = issues
    assert path.endswith(".valueCodeableConcept") and "PHQ-9 item 1" in issues[path]


def test_a_response_on_a_missed_session_or_of_another_patient_is_refused():
    missed = response("qr-1", PHQ9, PHQ9_ANSWERS, encounter="Appointment/a-001-2")
    other = response("qr-2", GAD7, GAD7_ANSWERS, patient="Patient/someone-else")
    issues = _issues(example_with(missed, other))
    assert any(path.endswith(".encounter") and "missed" in m for path, m in issues.items())
    assert any(path.endswith(".subject") for path in issues)


def test_in_progress_responses_and_other_questionnaires_are_ignored():
    draft = response("qr-draft", PHQ9, [None] * 9)
    draft["status"] = "in-progress"
    other = {
        "resourceType": "QuestionnaireResponse",
        "id": "qr-other",
        "status": "completed",
        "questionnaire": "http://example.org/Questionnaire/intake",
        "subject": {"reference": "Patient/c-001"},
        "item": [{"linkId": "1", "answer": [answer(2, "code")]}],
    }
    session = _first_session(example_with(draft, other, keep_totals=True))
    assert session["phq9"] == 18


def test_two_responses_to_one_instrument_in_a_session_are_refused():
    first = response("qr-1", PHQ9, PHQ9_ANSWERS)
    second = response("qr-2", PHQ9, PHQ9_ANSWERS)
    issues = _issues(example_with(first, second))
    assert any("a second PHQ-9 response" in message for message in issues.values())


# --- the intake date -------------------------------------------------------------------


def _episode(resource_id: str, start: str, status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "EpisodeOfCare",
        "id": resource_id,
        "status": status,
        "patient": {"reference": "Patient/c-001"},
        "period": {"start": start},
    }


def test_the_intake_date_is_the_episode_of_care_s_start():
    bundle = example_with(
        _episode("past", "2025-01-10", "finished"),
        _episode("eoc-1", "2026-02-20"),
        keep_totals=True,
    )
    episode = read_bundle(bundle)
    assert episode.request.client.intake_date.isoformat() == "2026-02-20"


def test_without_a_usable_episode_of_care_the_intake_is_the_first_session():
    bundle = example_with(
        _episode("later", "2026-04-01"),
        _episode("void", "2026-01-01", "entered-in-error"),
        keep_totals=True,
    )
    assert read_bundle(bundle).request.client.intake_date.isoformat() == "2026-03-02"


def test_the_episode_the_encounters_name_is_the_one_used():
    bundle = example_with(
        _episode("eoc-a", "2026-02-01"), _episode("eoc-b", "2026-02-25"), keep_totals=True
    )
    encounter = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter"
    )
    encounter["episodeOfCare"] = [{"reference": "EpisodeOfCare/eoc-a"}]
    assert read_bundle(bundle).request.client.intake_date.isoformat() == "2026-02-01"


# --- through the FHIR operation ----------------------------------------------------------


@pytest.fixture(scope="module")
def registry(trained, tmp_path_factory):
    """A champion the app can serve (see :func:`promoted_registry`)."""
    return promoted_registry(trained, tmp_path_factory.mktemp("registry"))


def _post(api, tokens, bundle):
    return api.post(
        URL,
        content=json.dumps(bundle),
        headers={"Content-Type": FHIR_JSON, **tokens.header(Scope.RISK_WRITE)},
    )


def test_a_response_bundle_scores_like_the_json_api_with_the_self_harm_signal(api, tokens):
    body = json.loads(json.dumps(_api_example()))
    body["sessions"][0]["phq9_item9"] = 2
    expected = api.post("/v1/risk-assessments", json=body, headers=tokens.header(Scope.RISK_WRITE))
    assert expected.status_code == 200, expected.text
    expected = expected.json()
    assert "self_harm_item_endorsed" in {s["code"] for s in expected["signals"]}

    answer_ = _post(api, tokens, example_with(*example_responses()))
    assert answer_.status_code == 200, answer_.text
    dropout, poor = (entry["resource"] for entry in answer_.json()["entry"])
    for resource, outcome in ((dropout, "dropout"), (poor, "poor_outcome")):
        assert resource["prediction"][0]["probabilityDecimal"] == expected[outcome]["probability"]
        assert resource["note"][0]["text"].startswith("Safety signal: ")
        references = {basis["reference"] for basis in resource["basis"]}
        assert {"QuestionnaireResponse/qr-phq9", "QuestionnaireResponse/qr-gad7"} <= references


def test_the_differing_total_is_named_in_the_answer(api, tokens):
    phq9 = response("qr-phq9", PHQ9, (3, 3, 3, 3, 3, 3, 3, 3, 1))
    answer_ = _post(api, tokens, example_with(phq9, keep_totals=True))
    assert answer_.status_code == 200, answer_.text
    notes = [note["text"] for note in answer_.json()["entry"][0]["resource"]["note"]]
    assert any("Observation/o-001-1-phq9" in note and "25" in note for note in notes)


def test_a_refused_response_is_an_operation_outcome_naming_the_item(api, tokens):
    scores = list(PHQ9_ANSWERS)
    scores[8] = None
    answer_ = _post(api, tokens, example_with(response("qr-phq9", PHQ9, scores)))
    assert answer_.status_code == 422, answer_.text
    body = answer_.json()
    assert body["resourceType"] == "OperationOutcome"
    (issue,) = body["issue"]
    assert "PHQ-9 item 9 (44260-8)" in issue["diagnostics"]
    assert issue["code"] == "required"


# --- fuzzing: whatever the responses and items hold, a request or FhirInputError --------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_responses_and_items_give_a_request_or_fhir_input_error(data):
    url = "https://forms.example.org/Questionnaire/phq9-local"
    resources = [
        _local_link_ids(response("qr-local", PHQ9, PHQ9_ANSWERS), url),
        _form("phq9-local", url, PHQ9),
        response(
            "qr-gad7",
            GAD7,
            GAD7_ANSWERS,
            style=data.draw(st.sampled_from(["code", "integer", "ordinal"])),
        ),
        *item_observations("g", GAD7, GAD7_ANSWERS),
        {
            "resourceType": "EpisodeOfCare",
            "id": "eoc",
            "status": "active",
            "patient": {"reference": "Patient/c-001"},
            "period": {"start": "2026-02-20"},
        },
    ]
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(resources) - 1))
        resources[at] = _mutate(resources[at], data.draw)
    bundle = example_with(keep_totals=True)
    bundle["entry"] += [{"resource": resource} for resource in resources]
    try:
        episode = read_bundle(bundle)
    except FhirInputError as error:
        assert error.issues and all(issue.path and issue.message for issue in error.issues)
    else:
        assert isinstance(episode.request, AssessmentRequest)
        assert all(isinstance(warning, str) for warning in episode.warnings)


def _form(resource_id: str, url: str, panel) -> dict[str, Any]:
    """A Questionnaire whose items have local linkIds (q1, q2, ...) and LOINC codes."""
    return {
        "resourceType": "Questionnaire",
        "id": resource_id,
        "url": url,
        "status": "active",
        "code": [{"system": "http://loinc.org", "code": panel.code}],
        "item": [
            {
                "linkId": f"q{number}",
                "type": "choice",
                "code": [{"system": "http://loinc.org", "code": code}],
                "text": display,
            }
            for number, (code, display) in enumerate(panel.items, start=1)
        ],
    }


def _local_link_ids(resource: dict[str, Any], canonical: str) -> dict[str, Any]:
    resource["questionnaire"] = canonical
    for number, item in enumerate(resource["item"], start=1):
        item["linkId"] = f"q{number}"
    return resource


def test_local_link_ids_are_read_through_the_questionnaire_sent_beside():
    url = "https://forms.example.org/Questionnaire/phq9-local"
    phq9 = _local_link_ids(response("qr-phq9", PHQ9, PHQ9_ANSWERS), f"{url}|3")
    session = _first_session(example_with(phq9, _form("phq9-local", url, PHQ9)))
    assert (session["phq9"], session["phq9_item9"]) == (18, 2)


def test_local_link_ids_are_read_through_a_contained_questionnaire():
    gad7 = _local_link_ids(response("qr-gad7", GAD7, GAD7_ANSWERS), "#form")
    gad7["contained"] = [_form("form", "https://forms.example.org/gad7", GAD7)]
    session = _first_session(example_with(gad7, keep_totals=True))
    assert session["gad7"] == 12


def test_local_link_ids_without_their_questionnaire_are_another_questionnaire():
    url = "https://forms.example.org/Questionnaire/phq9-local"
    phq9 = _local_link_ids(response("qr-phq9", PHQ9, PHQ9_ANSWERS), url)
    session = _first_session(example_with(phq9, keep_totals=True))
    assert session["phq9"] == 18 and session["phq9_item9"] is None  # from the total
