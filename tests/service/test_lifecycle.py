"""Model lifecycle: the service follows the champion alias without a restart, a failed
request or a mixed response, and keeps serving through a registry outage."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient

from service.app import create_app
from service.security import Scope
from tests.support.polling import wait_until
from tests.support.registry import register_trained, registry_settings


@pytest.fixture(scope="module")
def two_versions(trained, tmp_path_factory):
    """A store with versions 1 and 2 of the model, the alias on version 1."""
    settings = registry_settings(tmp_path_factory.mktemp("two-versions"))
    first = register_trained(trained, settings)
    second = register_trained(trained, settings)  # equally good: the gate promotes it
    assert (first, second) == ("1", "2")
    return settings


def _move_alias(settings, version: str) -> None:
    MlflowClient(settings.tracking_uri, settings.tracking_uri).set_registered_model_alias(
        settings.model_name, "champion", version
    )


class _ContinuousScorer:
    """Scores the example client in a loop from another thread, recording every answer."""

    def __init__(self, api, headers, body):
        self.answers: list[tuple[int, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(api, headers, body))

    def _run(self, api, headers, body):
        while not self._stop.is_set():
            answer = api.post("/v1/risk-assessments", json=body, headers=headers)
            version = answer.json().get("model", {}).get("version")
            self.answers.append((answer.status_code, version))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()

    def wait_for(self, version: str, timeout: float = 60.0) -> None:
        wait_until(
            lambda: any(v == version for _, v in self.answers[-5:]),
            timeout,
            what=f"an answer from version {version}",
        )

    def wait_for_more(self, count: int, timeout: float = 60.0) -> None:
        """Wait for ``count`` more answers than there are now."""
        enough = len(self.answers) + count
        wait_until(lambda: len(self.answers) >= enough, timeout, what=f"{count} more answers")


def _check_no_failure_and_no_mix(answers, before: str, after: str) -> None:
    assert answers, "the scorer made no requests"
    assert all(status == 200 for status, _ in answers), {s for s, _ in answers}
    versions = [version for _, version in answers]
    assert set(versions) <= {before, after}
    # Every response names one version, and once the new one answers the old never does.
    switch = versions.index(after)
    assert versions[:switch] == [before] * switch
    assert versions[switch:] == [after] * (len(versions) - switch)


@pytest.mark.parametrize("trigger", ["poll", "admin_reload"])
def test_the_service_follows_the_alias_while_scoring(
    two_versions, make_settings, tokens, example_request, trigger
):
    _move_alias(two_versions, "1")
    poll = 0.5 if trigger == "poll" else 3600.0
    settings = make_settings(
        tracking_uri=two_versions.tracking_uri, registry_poll_seconds=max(poll, 1.0)
    )
    with (
        TestClient(create_app(settings)) as api,
        _ContinuousScorer(api, tokens.header(Scope.RISK_WRITE), example_request) as scorer,
    ):
        scorer.wait_for("1")
        _move_alias(two_versions, "2")
        if trigger == "admin_reload":
            reloaded = api.post("/v1/models/reload", headers=tokens.header(Scope.ADMIN))
            assert reloaded.json() == {"previous_version": "1", "version": "2", "switched": True}
        scorer.wait_for("2")
        scorer.wait_for_more(10)  # more requests on the new version (and over 10 in all)
    _check_no_failure_and_no_mix(scorer.answers, "1", "2")
    assert len(scorer.answers) > 10


def test_a_registry_outage_keeps_the_model_and_ready_says_degraded(
    two_versions, make_settings, tokens, example_request, tmp_path
):
    _move_alias(two_versions, "2")
    store = Path(two_versions.tracking_uri.removeprefix("sqlite:///"))
    copy = tmp_path / "registry-copy.db"
    shutil.copy(store, copy)
    settings = make_settings(tracking_uri=f"sqlite:///{copy}")
    with TestClient(create_app(settings)) as api:
        assert api.get("/ready").json()["status"] == "ready"
        healthy = copy.read_bytes()
        copy.write_bytes(b"this is not a database" * 100)  # the registry breaks
        try:
            reload = api.post("/v1/models/reload", headers=tokens.header(Scope.ADMIN))
            assert reload.status_code == 503
            assert reload.json()["code"] == "registry_unavailable"
            ready = api.get("/ready")
            assert ready.status_code == 200
            assert ready.json()["status"] == "degraded"
            assert ready.json()["model_version"] == "2"
            assert ready.json()["registry"]["reachable"] is False
            scored = api.post(
                "/v1/risk-assessments", json=example_request, headers=tokens.header()
            )
            assert scored.status_code == 200
            assert scored.json()["model"]["version"] == "2"
        finally:
            copy.write_bytes(healthy)  # the registry is back
        assert api.post("/v1/models/reload", headers=tokens.header(Scope.ADMIN)).status_code == 200
        assert api.get("/ready").json()["status"] == "ready"
