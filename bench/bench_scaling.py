"""Benchmark: training time and peak memory, one machine vs a Dask local cluster, and batch
scoring throughput, at growing cohort sizes.

For each size a synthetic cohort is simulated and written as two Parquet files; then, each
in its own process and against its own temporary MLflow store:

* ``dropout-risk train`` with the single-machine engine, then with ``--engine dask`` (a
  local cluster sized to the machine, started and closed by the command), both with the
  light options ``--cv-folds 0 --no-leave-one-clinic-out --bootstrap 0`` (the evaluation
  off) and ``--landmarks L`` (``--landmarks``, 12 by default);
* scoring: the registered model scores the whole extract with explanations
  (``models.batch.score_extract(..., explain=True)``, five factors per outcome and the
  clinical signals), in blocks of ``--score-block`` clients (of the first
  ``--score-clients``, if given); the time counted is ``score_extract``'s alone (not
  reading, validating or loading the model).

Peak memory is the largest sum of the resident set sizes (RSS) of the command's whole
process tree (for Dask: the command, the scheduler in it, nannies and worker processes),
sampled every 0.2 s with psutil; shared pages are counted once per process, so the sum
overstates a little.

    uv run python bench/bench_scaling.py --sizes 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import psutil

from bench.machine import measure_command
from features.vocabulary import DEFAULT_LANDMARKS

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
LIGHT = ["--cv-folds", "0", "--no-leave-one-clinic-out", "--bootstrap", "0"]


def _write_extract(size: int, seed: int, directory: str) -> int:
    """Simulate ``size`` clients and write them as Parquet; return the number of sessions."""
    from training.synth import simulate_cohort

    cohort = simulate_cohort(n_clients=size, seed=seed)
    # Row groups of bounded size, so a Dask reader can split the files.
    cohort.clients.to_parquet(f"{directory}/clients.parquet", index=False, row_group_size=50_000)
    cohort.sessions.to_parquet(
        f"{directory}/sessions.parquet", index=False, row_group_size=400_000
    )
    return len(cohort.sessions)


def _score(directory: Path, block: int, limit: int | None) -> None:
    """Score the extract (its first ``limit`` clients) with the champion, in blocks of
    clients; print one JSON line."""
    from features.contract import read_extract
    from models.batch import score_extract
    from training.registry import load_model
    from training.settings import TrainingSettings

    model, version = load_model(TrainingSettings(), version=None)
    clients, sessions = read_extract(directory / "clients.parquet", directory / "sessions.parquet")
    ids = clients["client_id"].to_numpy()[:limit]
    assessments, seconds = 0, 0.0
    for start in range(0, len(ids), block):
        chosen = set(ids[start : start + block])
        part_clients = clients[clients["client_id"].isin(chosen)]
        part_sessions = sessions[sessions["client_id"].isin(chosen)]
        started = time.perf_counter()
        scores = score_extract(model, part_clients, part_sessions, explain=True)
        seconds += time.perf_counter() - started
        assessments += len(scores)
    print(json.dumps({"assessments": assessments, "seconds": seconds, "version": version}))


def _one_size(
    size: int,
    seed: int,
    block: int,
    limit: int | None,
    engines: list[str],
    root: Path,
    *,
    landmarks: int,
) -> list[tuple[str, ...]]:
    directory = root / f"n{size}"
    directory.mkdir()
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        sessions = pool.submit(_write_extract, size, seed, str(directory)).result()
    extract = [
        "--clients", str(directory / "clients.parquet"),
        "--sessions", str(directory / "sessions.parquet"),
    ]  # fmt: skip
    rows = []
    for engine in engines:
        env = {**os.environ, "DROPOUT_RISK_DATA_DIR": str(directory / f"data-{engine}")}
        env.pop("MLFLOW_TRACKING_URI", None)
        command = [sys.executable, "-m", "cli", "train", *extract, *LIGHT, "--engine", engine]
        command += ["--landmarks", str(landmarks)]
        seconds, peak, _ = measure_command(command, env)
        rows.append((f"{size:,}", f"{sessions:,}", f"train, {engine}", f"{seconds:,.0f} s",
                     f"{peak:,.0f}", ""))  # fmt: skip
        print(" | ".join(rows[-1]), flush=True)
    # Score with the model the first engine registered.
    env = {**os.environ, "DROPOUT_RISK_DATA_DIR": str(directory / f"data-{engines[0]}")}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [sys.executable, __file__, "--score", str(directory), "--score-block", str(block)]
    command += ["--score-clients", str(limit)] if limit else []
    _, peak, output = measure_command(command, env)
    scored = json.loads(output.strip().splitlines()[-1])
    rate = scored["assessments"] / scored["seconds"]
    rows.append((f"{size:,}", f"{sessions:,}", "score with explanations",
                 f"{scored['seconds']:,.0f} s", f"{peak:,.0f}",
                 f"{scored['assessments']:,} assessments, {rate:,.0f}/s"))  # fmt: skip
    print(" | ".join(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--score-block", type=int, default=20_000, help="Clients per block.")
    parser.add_argument(
        "--engines", nargs="+", choices=("single", "dask"), default=["single", "dask"]
    )
    parser.add_argument(
        "--score-clients", type=int, help="Score only the first N clients (default: all)."
    )
    parser.add_argument(
        "--landmarks", type=int, default=DEFAULT_LANDMARKS, help="Landmarks L of training."
    )
    parser.add_argument("--score", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.score:
        _score(options.score, options.score_block, options.score_clients)
        return
    cores = psutil.cpu_count()
    memory = psutil.virtual_memory().total / 2**30
    options_text = f"{' '.join(LIGHT)} --landmarks {options.landmarks}"
    print(f"{cores} cores, {memory:.0f} GB; training options: {options_text}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in options.sizes:
            rows += _one_size(
                size, options.seed, options.score_block, options.score_clients,
                options.engines, Path(scratch), landmarks=options.landmarks,
            )  # fmt: skip
    header = ("clients", "sessions", "step", "time", "peak MB (process tree)", "throughput")
    print("\n| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " if i < 3 else " ---: " for i in range(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
