"""A worker's boosters use the threads the settings give them, and answer the same."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient


def _booster_threads(client: TestClient) -> set[int]:
    model = client.app.state.runtime.keeper.current.model
    return {
        int(json.loads(model.outcome_model(outcome).booster.save_config())["learner"][
            "generic_param"]["nthread"])
        for outcome in ("dropout", "poor_outcome")
    }  # fmt: skip


def test_the_served_model_scores_with_the_threads_set_and_answers_alike(
    registry, make_settings, tokens, example_request
):
    from service.app import create_app

    answers = {}
    for threads in (1, 2):
        settings = make_settings(tracking_uri=registry.tracking_uri, scoring_threads=threads)
        with TestClient(create_app(settings)) as client:
            assert _booster_threads(client) == {threads}
            response = client.post(
                "/v1/risk-assessments", json=example_request, headers=tokens.header()
            )
            assert response.status_code == 200, response.text
            answer = response.json()
            answer.pop("assessment_id")
            answers[threads] = answer
    assert answers[1] == answers[2]


def test_by_default_a_service_scores_on_one_thread():
    from service.settings import ServiceSettings

    assert ServiceSettings.model_fields["scoring_threads"].default == 1
