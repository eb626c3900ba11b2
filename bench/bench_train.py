"""Benchmark: `dropout-risk train` on a synthetic cohort, then `evaluate` on a separate one.

Runs the real command line in subprocesses against a temporary MLflow store and prints a
table of wall-clock times and peak memory, then the evaluation table (model vs logistic
regression vs rule flags vs the simulator's true-probability oracle).

    uv run python bench/bench_train.py --train-clients 20000 --test-clients 5000
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(arguments: list[str], env: dict[str, str]) -> tuple[float, str, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "cli", *arguments], env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout, done.stderr, file=sys.stderr)
        raise SystemExit(f"failed: dropout-risk {' '.join(arguments)}")
    return elapsed, done.stdout, done.stderr


#: A progress line of the command line: ``[  12.3s] message`` (cli/console.py).
_STEP = re.compile(r"\[\s*(\d+\.\d)s\] (.+?)\s*(?:\S+\.py:\d+)?$")


def stage_times(progress: str, total: float) -> list[tuple[str, float]]:
    """Seconds from each progress line to the next (the last one runs to ``total``)."""
    found = map(_STEP.search, progress.splitlines())
    steps = [(m.group(2), float(m.group(1))) for m in found if m]
    ends = [at for _, at in steps[1:]] + [total] if steps else []
    return [(name, end - at) for (name, at), end in zip(steps, ends, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-clients", type=int, default=20_000)
    parser.add_argument("--test-clients", type=int, default=5_000)
    parser.add_argument("--train-seed", type=int, default=1)
    parser.add_argument("--test-seed", type=int, default=2)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        # Wide lines: the progress lines must not wrap for stage_times to read them.
        env = {**os.environ, "DROPOUT_RISK_DATA_DIR": str(root / "data"), "COLUMNS": "200"}
        env.pop("MLFLOW_TRACKING_URI", None)
        rows = []
        for name, size, seed in (
            ("train", options.train_clients, options.train_seed),
            ("test", options.test_clients, options.test_seed),
        ):
            elapsed, _, _ = _run(
                ["synth", "--clients", str(size), "--seed", str(seed), "--out", str(root / name)],
                env,
            )
            rows.append((f"synth {name} ({size:,} clients)", elapsed))

        def extract(name: str) -> list[str]:
            return [
                "--clients", str(root / name / "clients.csv"),
                "--sessions", str(root / name / "sessions.csv"),
            ]  # fmt: skip

        # Whatever the gate says, evaluate the version train registered (the bench measures).
        override = ["--override-gate", "bench: the synthetic cohort is evaluated either way"]
        elapsed, trained, progress = _run(["train", *extract("train"), *override], env)
        rows.append((f"train ({options.train_clients:,} clients, defaults)", elapsed))
        stages = stage_times(progress, elapsed)
        elapsed, evaluated, _ = _run(
            ["evaluate", *extract("test"), "--oracle", str(root / "test" / "oracle.csv")], env
        )
        rows.append((f"evaluate ({options.test_clients:,} clients)", elapsed))
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    print(f"\n{'step':45s} {'seconds':>8s}")
    for step, seconds in rows:
        print(f"{step:45s} {seconds:8.1f}")
    print(f"{'peak memory of a step (MB)':45s} {peak:8.0f}")
    print("\nwhere train's time goes (from its progress lines):")
    for stage, seconds in stages:
        print(f"  {stage[:60]:60s} {seconds:7.1f}")
    print("\ntrain output (held-out clients of the training cohort):")
    print(trained)
    print(f"evaluate output (separate cohort, seed {options.test_seed}):")
    print(evaluated)


if __name__ == "__main__":
    main()
