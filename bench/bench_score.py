"""Benchmark: `dropout-risk score --explain` at scale, one process, all cores, and Dask.

Scores a Parquet extract with the champion of an MLflow store, by the real command, each run
in its own process: ``--workers 1``, ``--workers N`` (the cores) and ``--engine dask`` (a
local cluster the command starts). The figures are the command's wall time from start to
exit (starting Python, loading the model, reading and validating the extract, scoring with
factors, signals and intervals, writing the table) and the assessments it wrote per second
of that time; the peak memory is the largest sum of the resident set sizes of its process
tree (the command, its scoring processes or Dask workers), sampled every 0.2 s.

With ``--clients N`` the first N clients of the extract are written to a scratch extract
first (not timed), so one big cohort serves several sizes::

    uv run python bench/bench_score.py --extract /tmp/cohort \\
        --tracking-uri sqlite:///data/mlflow.db --clients 100000

The extract directory holds ``clients.parquet`` and ``sessions.parquet`` (``dropout-risk
synth`` writes CSV: convert them, or use ``bench/bench_scaling.py``, which writes Parquet).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

from bench.machine import measure_command

RUNS = ("workers 1", "workers all", "dask")


def _first_clients(extract: Path, limit: int | None, scratch: Path) -> tuple[Path, Path, int]:
    clients = pd.read_parquet(extract / "clients.parquet")
    sessions_path = extract / "sessions.parquet"
    if limit is None or limit >= len(clients):
        return extract / "clients.parquet", sessions_path, len(clients)
    chosen = clients.iloc[:limit]
    sessions = pd.read_parquet(sessions_path)
    sessions = sessions[sessions["client_id"].isin(set(chosen["client_id"]))]
    chosen.to_parquet(scratch / "clients.parquet", index=False)
    sessions.to_parquet(scratch / "sessions.parquet", index=False, row_group_size=400_000)
    return scratch / "clients.parquet", scratch / "sessions.parquet", limit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--extract", type=Path, required=True, help="directory of the Parquet extract"
    )
    parser.add_argument("--tracking-uri", required=True, help="MLflow store with a champion")
    parser.add_argument("--clients", type=int, help="score only the first N clients")
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS))
    options = parser.parse_args()

    env = {**os.environ, "MLFLOW_TRACKING_URI": options.tracking_uri}
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    cores = len(os.sched_getaffinity(0))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-score-") as scratch_name:
        scratch = Path(scratch_name)
        clients, sessions, size = _first_clients(options.extract, options.clients, scratch)
        print(f"{cores} cores; {size:,} clients; load average before: {os.getloadavg()[0]:.1f}")
        for run in options.runs:
            out = scratch / ("parts" if run == "dask" else "scores.parquet")
            command = [sys.executable, "-m", "cli", "score", "--clients", str(clients)]
            command += ["--sessions", str(sessions), "--out", str(out), "--explain"]
            if run == "dask":
                command += ["--engine", "dask"]
            else:
                command += ["--workers", "1" if run == "workers 1" else str(cores)]
            seconds, peak, _ = measure_command(command, env)
            table = pd.read_parquet(out, columns=["client_id"])
            rows.append((run, len(table), seconds, peak))
            print(f"{run}: {len(table):,} assessments in {seconds:,.1f} s", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}\n")
    print("| run | assessments | wall s | assessments/s | peak MB (process tree) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for run, count, seconds, peak in rows:
        print(f"| {run} | {count:,} | {seconds:,.1f} | {count / seconds:,.0f} | {peak:,.0f} |")


if __name__ == "__main__":
    main()
