"""Benchmark of the first start: `make serve` on an empty data directory, until /ready.

The environment is built first (``make env``, not timed: the issue's figure is "after the
environment is built"), then `make serve` runs with a new ``DATA_DIR`` on a free port, as a
newcomer's first command would: simulate the demo cohort (with the literature report only
when ``--synth-report`` asks for it), validate it and train with the demo's options (the
Makefile's ``DEMO_TRAIN_OPTIONS``), create the demo token and start the service. Each
step's end is taken from make's output; the service is stopped once ``/ready`` answers 200.

    uv run python bench/bench_first_start.py
    uv run python bench/bench_first_start.py --demo-clients 20000 --train-options ""
    uv run python bench/bench_first_start.py --demo-clients 10000 --synth-report=--report
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.machine import machine_line
from tests.support.servers import free_port

REPO = Path(__file__).resolve().parent.parent
#: A line of make's output that ends a step, and the step's name.
_STEPS = (
    ("dropout-risk train", "simulate the cohort"),
    ("demo API token", "validate the extract, train, evaluate, register"),
    ("dropout-risk serve", "create the demo token"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-clients", help="DEMO_CLIENTS (default: the Makefile's)")
    parser.add_argument("--train-options", help="DEMO_TRAIN_OPTIONS (default: the Makefile's)")
    parser.add_argument(
        "--synth-report", help="SYNTH_REPORT (default: the Makefile's; '--report' adds it)"
    )
    parser.add_argument("--timeout", type=float, default=900.0)
    options = parser.parse_args()
    shell = _users_shell()
    subprocess.run(["make", "env"], cwd=REPO, env=shell, check=True, capture_output=True)

    load_before = os.getloadavg()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="first-start-") as scratch:
        overrides = {"DATA_DIR": str(Path(scratch) / "data"), "PORT": str(port)}
        if options.demo_clients:
            overrides["DEMO_CLIENTS"] = options.demo_clients
        if options.synth_report is not None:
            overrides["SYNTH_REPORT"] = options.synth_report
        if options.train_options is not None:
            overrides["DEMO_TRAIN_OPTIONS"] = options.train_options
        environment = shell | overrides
        started = time.perf_counter()
        marks: list[tuple[str, float]] = []
        log = Path(scratch) / "make-serve.log"
        with log.open("wb") as sink:
            make = subprocess.Popen(
                ["make", "serve"], cwd=REPO, env=environment, stdout=sink,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            ready = _wait_until_ready(make, port, log, marks, started, options.timeout)
        finally:
            os.killpg(make.pid, signal.SIGTERM)
            make.wait(timeout=30)
        load_after = os.getloadavg()

    print(machine_line(load_before, load_after))
    chosen = [f"{k}={v!r}" for k, v in overrides.items() if k not in ("DATA_DIR", "PORT")]
    print(f"make serve on an empty data directory ({', '.join(chosen) or 'Makefile defaults'})")
    print()
    print("| step | ended at (s) | took (s) |")
    print("| --- | ---: | ---: |")
    previous = 0.0
    for name, at in [*marks, ("start the service until /ready answers 200", ready)]:
        print(f"| {name} | {at:.1f} | {at - previous:.1f} |")
        previous = at
    print(f"\nready {ready:.1f} s after `make serve` started (target: at most 60 s)")


def _users_shell() -> dict[str, str]:
    """The environment of a user's shell: outside this run's virtual environment, none of
    the service's settings (as tests/deploy/test_make_serve.py runs make)."""
    venv = os.environ.get("VIRTUAL_ENV", str(REPO / ".venv"))
    path = os.pathsep.join(
        p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(venv)
    )
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DROPOUT_RISK_", "MLFLOW_", "VIRTUAL_ENV", "UV_"))
        and key != "DATABASE_URL"
    } | {"PATH": path}


def _wait_until_ready(
    make: subprocess.Popen, port: int, log: Path, marks: list, started: float, timeout: float
) -> float:
    """Seconds until /ready answers 200, noting when each step of make's output ended."""
    pending = list(_STEPS)
    while time.perf_counter() - started < timeout:
        output = log.read_text(errors="replace")
        while pending and pending[0][0] in output:
            marks.append((pending.pop(0)[1], time.perf_counter() - started))
        if make.poll() is not None:
            raise SystemExit(f"make serve exited with {make.returncode}:\n{output[-5000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"not ready within {timeout:.0f} s:\n{log.read_text()[-5000:]}")


if __name__ == "__main__":
    main()
