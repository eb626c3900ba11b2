"""A worker's boosters use the threads the settings give them for batches of a few requests,
one for a single request, and answer the same; serve sets its share of the cores."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from cli.service_commands import scoring_environment
from service.lifecycle import THREADED_BATCH_ROWS


def _threads(booster) -> int:
    return int(json.loads(booster.save_config())["learner"]["generic_param"]["nthread"])


def _booster_threads(client: TestClient, rows: int) -> set[int]:
    """The threads of the boosters that predict a batch of ``rows`` requests."""
    model = client.app.state.runtime.keeper.current.model
    return {_threads(model.booster_for(outcome, rows)) for outcome in ("dropout", "poor_outcome")}


def test_the_served_model_scores_with_the_threads_set_and_answers_alike(
    registry, make_settings, tokens, example_request
):
    from service.app import create_app

    answers = {}
    for threads in (1, 2):
        settings = make_settings(tracking_uri=registry.tracking_uri, scoring_threads=threads)
        with TestClient(create_app(settings)) as client:
            assert _booster_threads(client, 1) == {1}  # a single request: one thread
            assert _booster_threads(client, THREADED_BATCH_ROWS - 1) == {1}
            assert _booster_threads(client, THREADED_BATCH_ROWS) == {threads}
            batch = {"assessments": [example_request] * THREADED_BATCH_ROWS}
            scored = client.post("/v1/risk-assessments/batch", json=batch, headers=tokens.header())
            single = client.post(
                "/v1/risk-assessments", json=example_request, headers=tokens.header()
            )
            assert scored.status_code == single.status_code == 200, scored.text + single.text
            results = [item["assessment"] for item in scored.json()["results"]] + [single.json()]
            for answer in results:
                answer.pop("assessment_id")
            assert all(answer == results[0] for answer in results)
            answers[threads] = results[0]
    assert answers[1] == answers[2]


def test_by_default_a_service_scores_on_one_thread():
    from service.settings import ServiceSettings

    assert ServiceSettings.model_fields["scoring_threads"].default == 1


@pytest.mark.parametrize(
    ("cores", "workers", "threads"),
    [(2, 1, 2), (96, 1, 2), (4, 2, 2), (2, 2, 1), (2, 3, 1), (1, 1, 1)],
)
def test_serve_shares_the_usable_cores_among_its_workers_with_passive_waits(
    monkeypatch, cores, workers, threads
):
    from service.settings import ServiceSettings

    monkeypatch.setattr("models.cores.usable_cores", lambda: cores)
    environment = scoring_environment(workers)
    assert environment == {
        "DROPOUT_RISK_SCORING_THREADS": str(threads),
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    assert ServiceSettings(scoring_threads=threads).scoring_threads == threads


def test_serve_decides_the_threads_before_xgboost_and_its_openmp_are_loaded():
    """OpenMP reads OMP_WAIT_POLICY once, when XGBoost's library is loaded: serve must set it
    before anything imports XGBoost."""
    probe = (
        "import sys\n"
        "from cli.service_commands import scoring_environment\n"
        "scoring_environment(1)\n"
        "assert 'xgboost' not in sys.modules, 'xgboost was loaded'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
