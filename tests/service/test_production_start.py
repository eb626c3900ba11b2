"""The production start: the image's command, run directly (no Docker engine here), and
``serve``'s refusal of a model trained on synthetic data."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.support.container import image_command
from tests.support.registry import register_trained, registry_settings
from tests.support.servers import free_port

pytestmark = pytest.mark.server  # dropout-risk serve in its own process

ROOT = Path(__file__).resolve().parents[2]


def _environment(directory: Path, tracking_uri: str) -> dict[str, str]:
    """The process's environment: only what an operator would set, nothing of this run."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DROPOUT_RISK_", "MLFLOW_", "VIRTUAL_ENV"))
        and key != "DATABASE_URL"
    } | {
        "DROPOUT_RISK_DATA_DIR": str(directory / "data"),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "DATABASE_URL": f"sqlite:///{directory / 'data' / 'audit.db'}",
    }


def _run(command: list[str], directory: Path, tracking_uri: str) -> tuple[subprocess.Popen, Path]:
    log = directory / "serve.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=_environment(directory, tracking_uri),
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return process, log


def _ready(process: subprocess.Popen, log: Path, port: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        process.wait(timeout=60)


def _image_command(port: int) -> list[str]:
    """The image's command, with this machine's uv and a free port."""
    command = image_command()
    assert command[0] == "uv"
    uv = [shutil.which("uv")] if shutil.which("uv") else [sys.executable, "-m", "uv"]
    command = uv + command[1:]
    command[command.index("--port") + 1] = str(port)
    command[command.index("--host") + 1] = "127.0.0.1"
    return command


def test_the_image_command_serves_without_making_or_printing_a_token(registry, tmp_path):
    port = free_port()
    process, log = _run(_image_command(port), tmp_path, registry.tracking_uri)
    try:
        _ready(process, log, port)
        answer = httpx.get(f"http://127.0.0.1:{port}/v1/models/current", timeout=10)
        assert answer.status_code == 401  # no token was made for anyone
    finally:
        _stop(process)
    output = log.read_text()
    assert "drk_" not in output and "token create" not in output.replace(
        "create one with `dropout-risk token create`", ""
    )
    assert not (tmp_path / "data" / "tokens.json").exists()
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'audit.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM api_tokens")).scalar() == 0
    engine.dispose()
    assert (tmp_path / "data" / "audit.db").stat().st_mode & 0o777 == 0o600


@pytest.fixture(scope="module")
def synthetic_registry(trained, tmp_path_factory) -> str:
    """A registry whose champion says it was trained on synthetic data."""
    settings = registry_settings(tmp_path_factory.mktemp("synthetic-registry"))
    model = dataclasses.replace(
        trained.model, metadata={**trained.model.metadata, "synthetic_data": True}
    )
    register_trained(dataclasses.replace(trained, model=model), settings)
    return settings.tracking_uri


def test_serve_refuses_a_synthetic_champion_unless_allowed(synthetic_registry, tmp_path):
    serve = [sys.executable, "-m", "cli", "serve", "--port", str(free_port())]
    refused = subprocess.run(
        serve,
        cwd=ROOT,
        env=_environment(tmp_path / "refused", synthetic_registry),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode != 0
    assert "synthetic" in refused.stdout + refused.stderr

    port = free_port()
    allowed = [sys.executable, "-m", "cli", "serve", "--port", str(port)]
    (tmp_path / "allowed").mkdir()
    process, log = _run([*allowed, "--allow-synthetic-model"], tmp_path / "allowed",
                        synthetic_registry)  # fmt: skip
    try:
        _ready(process, log, port)
    finally:
        _stop(process)
