"""The README's first command, run as the image runs it: ``make serve`` on an empty data dir.

A small synthetic cohort keeps it short; otherwise it is the whole path a new user takes:
environment, cohort, validation, training (no champion yet), a printed demo token and the
service, which then answers the README's ``curl`` exactly as written there.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port

pytestmark = [pytest.mark.deploy, pytest.mark.server]

ROOT = Path(__file__).resolve().parents[2]


def _readme_curl() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\nTOKEN=drk_.*?\n(curl .*?)```", readme, re.S)
    assert block, "the README shows a curl that scores the example client"
    return block.group(1)


@pytest.mark.slow
def test_make_serve_on_a_fresh_data_dir_trains_prints_a_token_and_serves(tmp_path):
    port = free_port()
    # As a user's shell: not inside the test run's virtual environment.
    venv = os.environ.get("VIRTUAL_ENV", str(ROOT / ".venv"))
    path = os.pathsep.join(
        p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(venv)
    )
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DROPOUT_RISK_", "MLFLOW_", "VIRTUAL_ENV", "UV_"))
        and key != "DATABASE_URL"
    } | {"PATH": path, "DATA_DIR": str(tmp_path / "data"), "DEMO_CLIENTS": "1500",
         "SYNTH_REPORT": "",
         "PORT": str(port)}  # fmt: skip
    log = tmp_path / "make-serve.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            ["make", "serve"], cwd=ROOT, env=environment, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: make, uv, the server
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        output = log.read_text()
        assert "now the champion" in output  # trained and registered: no champion existed
        (token,) = re.findall(r"^(drk_[A-Za-z0-9_-]+)$", output, re.M)
        # A hash is kept, in the database: the token itself nowhere.
        assert token.encode() not in (tmp_path / "data" / "audit.db").read_bytes()
        curl = _readme_curl().replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        done = subprocess.run(
            ["bash", "-c", curl], env=environment | {"TOKEN": token},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        answer = httpx.Response(200, content=done.stdout).json()
        assert answer["client_id"] == "c-001" and answer["as_of_session"] == 2
        assert {s["code"] for s in answer["signals"]} >= {"srs_below_cutoff"}
        assert httpx.get(f"http://127.0.0.1:{port}/docs").status_code == 200
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
