"""Benchmark: `dropout-risk score-fhir` on FHIR Bulk Data exports of growing size.

A model is trained once on a small synthetic cohort (light options, gate overridden) into a
temporary MLflow store. For each size a ``synth`` cohort is simulated and written as a Bulk
Data export by the tests' writer (tests/support/fhir_export.py: Patient, EpisodeOfCare,
Encounter, Appointment, Observation, QuestionnaireResponse NDJSON, two files per type), in
a child process; then ``dropout-risk score-fhir`` runs on it under ``/usr/bin/time -v``,
alone in its process. The table gives the maximum resident set size that ``time`` reports
(the command's peak memory), the wall-clock time and the patients scored per second; the
target is a peak at the largest size at most 1.5 times the peak at the smallest.

    uv run python bench/bench_score_fhir.py                     # 10,000 and 100,000
    uv run python bench/bench_score_fhir.py --sizes 500 2000    # a quick run

With ``--workdir DIR`` the model store (``DIR/data``) and the exports (``DIR/export-N``) are
kept and reused by later runs, so sizes can be measured by separate (even concurrent) runs
against the same model; each row is printed as soon as it is measured.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import machine_line  # noqa: E402

DEFAULT_SIZES = (10_000, 100_000)
LIGHT = ["--cv-folds", "0", "--no-leave-one-clinic-out", "--bootstrap", "0"]
_MAX_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")
_WALL = re.compile(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)")


def _write_export(size: int, seed: int, directory: str) -> tuple[int, float, int]:
    """Simulate ``size`` clients and write them as an export: (resources, seconds, bytes)."""
    from tests.support.fhir_export import write_export
    from training.synth import simulate_cohort

    started = time.perf_counter()
    cohort = simulate_cohort(n_clients=size, seed=seed)
    counts = write_export(cohort.clients, cohort.sessions, Path(directory), split=2)
    written = sum(path.stat().st_size for path in Path(directory).iterdir())
    return sum(counts.values()), time.perf_counter() - started, written


def _cli(arguments: list[str], env: dict[str, str], *, timed: bool = False):
    command = [sys.executable, "-m", "cli", *arguments]
    if timed:
        command = ["/usr/bin/time", "-v", *command]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"failed ({done.returncode}): dropout-risk {' '.join(arguments)}")
    return done


def _train(root: Path, env: dict[str, str], clients: int) -> None:
    from training.synth import simulate_cohort, write_cohort

    paths = write_cohort(simulate_cohort(n_clients=clients, seed=101), root / "train")
    _cli(
        ["train", "--clients", str(paths["clients"]), "--sessions", str(paths["sessions"]),
         *LIGHT, "--override-gate", "bench: a synthetic cohort"],
        env,
    )  # fmt: skip


def _row(size: int, resources: int, written: int, peak_kb: int, wall: float, scored: int):
    return (
        f"| {size:,} | {resources:,} | {written / 1e6:,.0f} | {peak_kb / 1024:,.0f} | "
        f"{wall:,.0f} | {scored / wall:,.0f} |"
    )


_HEADER = (
    "| patients | resources | export MB | peak RSS MB | wall s | patients/s |\n"
    "|---:|---:|---:|---:|---:|---:|"
)


def _measure(root: Path, env: dict[str, str], size: int, seed: int) -> tuple:
    export = root / f"export-{size}"
    done_marker = export / ".complete"
    if done_marker.exists():
        resources, seconds, written = (int(float(x)) for x in done_marker.read_text().split())
        print(f"{size:,} patients: reusing {export} ({resources:,} resources)", flush=True)
    else:
        with ProcessPoolExecutor(max_workers=1) as pool:
            resources, seconds, written = pool.submit(
                _write_export, size, seed, str(export)
            ).result()
        done_marker.write_text(f"{resources} {seconds} {written}")
        print(
            f"{size:,} patients: wrote {resources:,} resources ({written / 1e6:,.0f} MB) "
            f"in {seconds:,.0f} s; scoring...",
            flush=True,
        )
    out = root / f"out-{size}"
    load_before = os.getloadavg()
    done = _cli(["score-fhir", "--input", str(export), "--out", str(out)], env, timed=True)
    peak_kb = int(_MAX_RSS.search(done.stderr).group(1))
    hours, minutes, secs = _WALL.search(done.stderr).groups()
    wall = int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)
    scored = sum(1 for _ in (out / "RiskAssessment.ndjson").open()) // 2
    print(f"  {done.stdout.strip()}", flush=True)
    row = (size, resources, written, peak_kb, wall, scored)
    print(_HEADER + "\n" + _row(*row), flush=True)
    print(f"  {machine_line(load_before)}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--train-clients", type=int, default=2000)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="Kept and reused (default: a temporary one)."
    )
    options = parser.parse_args()

    load_before = os.getloadavg()
    with contextlib.ExitStack() as stack:
        if options.workdir is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-fhir-")))
        else:
            root = options.workdir
            root.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "DROPOUT_RISK_DATA_DIR": str(root / "data")}
        env.pop("MLFLOW_TRACKING_URI", None)
        trained = root / "data" / ".trained"
        if not trained.exists():
            print(f"training a model on {options.train_clients:,} clients...", flush=True)
            _train(root, env, options.train_clients)
            trained.write_text("1")
        rows = [_measure(root, env, size, options.seed) for size in options.sizes]

    print()
    print(_HEADER)
    for row in rows:
        print(_row(*row))
    if len(rows) > 1:
        ratio = rows[-1][3] / rows[0][3]
        verdict = "met" if ratio <= 1.5 else "MISSED"
        print(
            f"\npeak at {rows[-1][0]:,} / peak at {rows[0][0]:,} = {ratio:.2f} "
            f"(target at most 1.5: {verdict})"
        )
    print(machine_line(load_before))


if __name__ == "__main__":
    main()
