"""Dependencies failing: the registry, the model version, the audit database.

* Registry unreachable at start-up: the cached model serves and ``/ready`` says degraded
  (the first check of the registry, made at once in the background, says why); without a
  usable cache the service refuses to start, with one line saying why.
* A corrupted or incompatible version under the alias: refused at load, the old model keeps
  serving, ``/ready`` and the reload endpoint say why.
* The audit database down: 503 ``audit_unavailable`` and no score, then recovery on its own.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from functools import partial
from pathlib import Path

import httpx
import psutil
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from cli.service_commands import WORKER_HEALTHCHECK_SECONDS
from service.app import create_app
from service.lifecycle import StartupRefusedError
from service.security import Scope
from tests.support.databases import POSTGRES_URL
from tests.support.load import Acknowledgement, check_audit
from tests.support.polling import wait_until
from tests.support.registry import register_trained, registry_settings
from tests.support.servers import free_port, running_server, start_server

ADMIN = Scope.ADMIN


def _unreachable_registry() -> str:
    """An MLflow server URI nothing listens on (refused at once, no waiting)."""
    return f"http://127.0.0.1:{free_port()}"


def _cache_a_model(make_settings, tracking_uri: str) -> None:
    """Start and stop the service once, so that it caches the model it loads."""
    with TestClient(create_app(make_settings(tracking_uri=tracking_uri))) as api:
        assert api.get("/ready").json()["status"] == "ready"


def _after_the_first_registry_check(api: TestClient, timeout: float = 60.0) -> dict:
    """``/ready`` once the registry has been checked: a start from the cache serves at once
    and checks the registry in the background."""

    def checked() -> dict | None:
        ready = api.get("/ready").json()
        return ready if ready["registry"]["checked_at"] is not None else None

    return wait_until(checked, timeout, what=lambda: api.get("/ready").json())


# --- the registry unreachable at start-up -------------------------------------------------


def test_an_unreachable_registry_at_start_up_serves_the_cached_model_degraded(
    registry, make_settings, tokens, example_request
):
    _cache_a_model(make_settings, registry.tracking_uri)
    with TestClient(create_app(make_settings(tracking_uri=_unreachable_registry()))) as api:
        ready = _after_the_first_registry_check(api)
        assert api.get("/ready").status_code == 200
        assert ready["status"] == "degraded"
        assert ready["model_version"] == registry.version
        assert ready["registry"]["reachable"] is False
        assert "API request to http://127.0.0.1" in ready["registry"]["error"]
        scored = api.post("/v1/risk-assessments", json=example_request, headers=tokens.header())
        assert scored.status_code == 200
        assert scored.json()["model"]["version"] == registry.version
        current = api.get("/v1/models/current", headers=tokens.header()).json()
        assert current["version"] == registry.version
        assert current["outcomes"]["dropout"]["metrics"] == {"auroc": 0.75}  # kept in the cache


def test_an_unreachable_registry_without_a_cache_refuses_to_start(make_settings):
    settings = make_settings(tracking_uri=_unreachable_registry())
    with pytest.raises(StartupRefusedError, match="no model is cached in") as refused:
        TestClient(create_app(settings)).__enter__()
    assert "API request to http://127.0.0.1" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_cached_model_of_another_feature_specification_is_not_served(registry, make_settings):
    _cache_a_model(make_settings, registry.tracking_uri)
    settings = make_settings(tracking_uri=_unreachable_registry())
    (spec_path,) = settings.model_cache_path.glob("current/bundle/bundle.json")
    spec = json.loads(spec_path.read_text())
    spec["feature_names"] = spec["feature_names"][::-1]
    spec_path.write_text(json.dumps(spec))
    with pytest.raises(StartupRefusedError, match="another feature specification"):
        TestClient(create_app(settings)).__enter__()


def _refused_start(*, tokens, tmp_path: Path, database_url: str) -> tuple[str, str]:
    """Run ``dropout-risk serve`` (2 workers) that must refuse: its one error line and output."""
    server = start_server(
        directory=tmp_path,
        tracking_uri=_unreachable_registry(),
        database_url=database_url,
        tokens=tokens.entries,
        workers=2,  # uvicorn's supervisor of several workers would exit 0: the CLI must not
    )
    try:
        code = server.process.wait(timeout=120)
    finally:
        server.stop()
    output = server.log.read_text()
    assert code != 0, output
    (reason,) = [line for line in output.splitlines() if line.startswith("error: ")]
    return reason, output


@pytest.mark.server
def test_the_served_command_refuses_to_start_with_one_line_and_exits_non_zero(tokens, tmp_path):
    reason, output = _refused_start(
        tokens=tokens, tmp_path=tmp_path, database_url=f"sqlite:///{tmp_path / 'audit.db'}"
    )
    assert reason.startswith("error: refusing to start: no model to serve: ")
    assert "no model is cached in" in reason
    assert "serving on" not in output  # refused before uvicorn started


# --- a corrupted or incompatible version under the alias ------------------------------------


@pytest.fixture(scope="module")
def broken_versions(trained, tmp_path_factory):
    """A store with a good version 1 (the champion), 2 of another feature specification and
    3 with a corrupted booster; the broken ones are copies of 1's files, edited."""
    root = tmp_path_factory.mktemp("broken-versions")
    settings = registry_settings(root)
    assert register_trained(trained, settings) == "1"
    client = MlflowClient(settings.tracking_uri, settings.tracking_uri)
    good = Path(
        client.get_model_version_download_uri(settings.model_name, "1").removeprefix("file://")
    )

    def broken_copy(name: str, damage) -> str:
        copy = root / name
        shutil.copytree(good, copy)
        damage(copy / "artifacts" / "bundle")
        return str(client.create_model_version(settings.model_name, source=copy.as_uri()).version)

    def other_features(bundle: Path) -> None:
        spec = json.loads((bundle / "bundle.json").read_text())
        spec["feature_names"] = [*spec["feature_names"][1:], "a_feature_this_code_lacks"]
        (bundle / "bundle.json").write_text(json.dumps(spec))

    def garbage_booster(bundle: Path) -> None:
        (bundle / "dropout.ubj").write_bytes(b"\x00not a booster" * 64)

    assert broken_copy("incompatible", other_features) == "2"
    assert broken_copy("corrupted", garbage_booster) == "3"
    return settings


def _move_alias(settings, version: str) -> None:
    MlflowClient(settings.tracking_uri, settings.tracking_uri).set_registered_model_alias(
        settings.model_name, "champion", version
    )


@pytest.mark.parametrize(
    ("broken", "reason"),
    [("2", "another feature specification"), ("3", "cannot load model bundle")],
    ids=["incompatible", "corrupted"],
)
def test_a_broken_version_is_refused_and_the_old_model_keeps_serving(
    broken_versions, make_settings, tokens, example_request, broken, reason
):
    _move_alias(broken_versions, "1")
    with TestClient(create_app(make_settings(tracking_uri=broken_versions.tracking_uri))) as api:
        _move_alias(broken_versions, broken)
        reload = api.post("/v1/models/reload", headers=tokens.header(ADMIN))
        assert reload.status_code == 503
        assert reload.json()["code"] == "registry_unavailable"
        assert f"version {broken} refused" in reload.json()["message"]
        assert reason in reload.json()["message"]
        ready = api.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["model_version"] == "1"
        assert reason in ready.json()["registry"]["error"]
        scored = api.post("/v1/risk-assessments", json=example_request, headers=tokens.header())
        assert scored.status_code == 200
        assert scored.json()["model"]["version"] == "1"
        _move_alias(broken_versions, "1")  # the alias comes back: all is well again
        reload = api.post("/v1/models/reload", headers=tokens.header(ADMIN))
        assert reload.json() == {"previous_version": "1", "version": "1", "switched": False}
        assert api.get("/ready").json()["status"] == "ready"


def test_a_restart_while_the_champion_is_broken_serves_the_cached_model(
    broken_versions, make_settings
):
    _move_alias(broken_versions, "1")
    _cache_a_model(make_settings, broken_versions.tracking_uri)
    _move_alias(broken_versions, "2")
    settings = make_settings(tracking_uri=broken_versions.tracking_uri)
    try:
        with TestClient(create_app(settings)) as api:
            ready = _after_the_first_registry_check(api)
            assert (ready["status"], ready["model_version"]) == ("degraded", "1")
            assert "version 2 refused" in ready["registry"]["error"]
    finally:
        _move_alias(broken_versions, "1")


def test_a_broken_champion_without_a_cache_refuses_to_start(broken_versions, make_settings):
    _move_alias(broken_versions, "3")
    try:
        with pytest.raises(StartupRefusedError, match="version 3 refused"):
            TestClient(
                create_app(make_settings(tracking_uri=broken_versions.tracking_uri))
            ).__enter__()
    finally:
        _move_alias(broken_versions, "1")


# --- the audit database down ----------------------------------------------------------------


@pytest.fixture
def own_database(postgres_admin):
    """A PostgreSQL database of this test alone (it is made unreachable), dropped after."""
    name = f"audit_down_{uuid.uuid4().hex[:12]}"
    with postgres_admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    yield name, make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with postgres_admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _database_down(admin, name: str) -> None:
    """Refuse new connections to ``name`` and end the ones it has, as an outage would."""
    with admin.connect() as connection:
        connection.exec_driver_sql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
        connection.execute(  # waits (up to 5 s) for each to end, so none serves a request
            text(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                " WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )


def _database_up(admin, name: str) -> None:
    with admin.connect() as connection:
        connection.exec_driver_sql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")


@pytest.mark.server
def test_with_the_database_down_no_score_is_sent_and_the_service_recovers_by_itself(
    registry, tokens, tmp_path, example_request, postgres_admin, own_database
):
    name, url = own_database
    acknowledged = {}

    def score(http):
        answer = http.post("/v1/risk-assessments", json=example_request, headers=tokens.header())
        if answer.status_code == 200:
            body = answer.json()
            acknowledged[body["assessment_id"]] = Acknowledgement(
                body["client_id"], body["dropout"]["probability"]
            )
        return answer

    with running_server(
        directory=tmp_path,
        tracking_uri=registry.tracking_uri,
        database_url=url,
        tokens=tokens.entries,
    ) as server:
        assert score(server.http).status_code == 200
        _database_down(postgres_admin, name)
        try:
            refused = [score(server.http) for _ in range(5)]
            assert [answer.status_code for answer in refused] == [503] * 5
            for answer in refused:
                assert answer.json()["code"] == "audit_unavailable"
                assert answer.headers["Retry-After"] == "5"
                assert "assessment_id" not in answer.text  # no score without its record
                assert "probability" not in answer.text
            ready = server.http.get("/ready")
            assert (ready.status_code, ready.json()["database"]) == (503, "unreachable")
        finally:
            _database_up(postgres_admin, name)
        back = time.monotonic()
        while score(server.http).status_code != 200:  # nobody restarts anything
            assert time.monotonic() - back < 60, "the service did not recover"
            time.sleep(0.2)
        recovered_in = time.monotonic() - back
        assert server.http.get("/ready").status_code == 200
    print(f"\nscoring answered 200 again {recovered_in:.2f} s after the database came back")
    audit = check_audit(url, acknowledged)
    assert audit.records == len(acknowledged) == 2  # the 503s left no record
    assert audit.exact


def _workers(server) -> list[psutil.Process]:
    """uvicorn's worker processes under the server's supervisor."""
    children = psutil.Process(server.process.pid).children()
    return [child for child in children if "spawn_main" in " ".join(child.cmdline())]


@pytest.mark.server
def test_a_worker_restarted_while_the_database_is_down_does_not_stop_the_service(
    registry, tokens, tmp_path, example_request, postgres_admin, own_database
):
    name, url = own_database
    with running_server(
        directory=tmp_path,
        tracking_uri=registry.tracking_uri,
        database_url=url,
        tokens=tokens.entries,
        workers=2,
    ) as server:
        score = partial(
            server.http.post, "/v1/risk-assessments", json=example_request, headers=tokens.header()
        )
        assert score().status_code == 200
        _database_down(postgres_admin, name)
        try:
            died = _workers(server)[0]
            died.kill()  # as the OOM killer would; uvicorn's supervisor starts a new worker
            # uvicorn's supervisor reaps it on its next round, which may first wait out the
            # other worker's health check (up to WORKER_HEALTHCHECK_SECONDS on a busy machine).
            died.wait(timeout=WORKER_HEALTHCHECK_SECONDS + 30)
            deadline = time.monotonic() + 120
            while not any(
                line.get("event") == "audit_unavailable" for line in server.log_lines()
            ):  # the new worker started without its database
                assert server.process.poll() is None, server.log.read_text()[-3000:]
                assert time.monotonic() < deadline, server.log.read_text()[-3000:]
                time.sleep(0.2)
            assert len(_workers(server)) == 2
            assert score().status_code == 503
        finally:
            _database_up(postgres_admin, name)
        back = time.monotonic()
        answered = []
        while len(answered) < 20:  # fresh connections: both workers answer, the new one too
            with httpx.Client(base_url=server.base_url, timeout=30) as fresh:
                answer = fresh.post(
                    "/v1/risk-assessments", json=example_request, headers=tokens.header()
                )
            if answer.status_code == 200:
                answered.append(answer.json()["assessment_id"])
            assert time.monotonic() - back < 60, "the service did not recover"
        assert server.process.poll() is None
    assert "failed to start" not in server.log.read_text()


@pytest.mark.server
def test_the_served_command_refuses_to_start_when_the_audit_database_is_down(tokens, tmp_path):
    nothing_listens = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    reason, output = _refused_start(tokens=tokens, tmp_path=tmp_path, database_url=nothing_listens)
    assert reason.startswith("error: refusing to start: audit store could not open and migrate")
    assert "serving on" not in output


@pytest.mark.server
def test_the_served_command_starts_from_the_cache_without_the_registry(
    registry, make_settings, tokens, tmp_path, example_request
):
    _cache_a_model(make_settings, registry.tracking_uri)
    cache = make_settings(tracking_uri=registry.tracking_uri).model_cache_path
    with running_server(
        directory=tmp_path,
        tracking_uri=_unreachable_registry(),
        database_url=f"sqlite:///{tmp_path / 'audit.db'}",
        tokens=tokens.entries,
        extra_environment={"DROPOUT_RISK_MODEL_CACHE_DIR": str(cache)},
        workers=2,
    ) as server:
        for _ in range(4):  # a new connection each time: either worker may answer
            with httpx.Client(base_url=server.base_url, timeout=30) as fresh:
                ready = fresh.get("/ready").json()
                assert (ready["status"], ready["model_version"]) == ("degraded", registry.version)
                scored = fresh.post(
                    "/v1/risk-assessments", json=example_request, headers=tokens.header()
                )
                assert scored.json()["model"]["version"] == registry.version
    # The model loaded once in each worker; the command itself loaded nothing.
    loads = [line for line in server.log_lines() if line.get("event") == "model_from_cache"]
    assert len(loads) == 2, loads
