"""Benchmark of the simulator: simulate and write cohorts of growing size.

Each size runs in a fresh process, so that its peak resident memory is its own.

    uv run python bench/bench_synth.py --sizes 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from training.synth import simulate_cohort, write_cohort

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)


def _run_one(n_clients: int, seed: int) -> dict[str, float]:
    """Simulate and write one cohort; time both and report the peak memory."""
    start = time.perf_counter()
    cohort = simulate_cohort(n_clients=n_clients, seed=seed)
    simulated = time.perf_counter()
    with tempfile.TemporaryDirectory() as out_dir:
        write_cohort(cohort, Path(out_dir))
    written = time.perf_counter()
    # ru_maxrss is in kilobytes on Linux.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "clients": n_clients,
        "sessions": len(cohort.sessions),
        "simulate_s": simulated - start,
        "write_s": written - simulated,
        "total_s": written - start,
        "peak_rss_mb": peak_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    header = f"{'clients':>10} {'sessions rows':>14} {'simulate s':>11} {'write s':>8} "
    header += f"{'total s':>8} {'peak RSS MB':>12}"
    print(header)
    print("-" * len(header))
    context = multiprocessing.get_context("spawn")
    for size in args.sizes:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            row = pool.submit(_run_one, size, args.seed).result()
        print(
            f"{row['clients']:>10,} {row['sessions']:>14,} {row['simulate_s']:>11.2f} "
            f"{row['write_s']:>8.2f} {row['total_s']:>8.2f} {row['peak_rss_mb']:>12.0f}"
        )


if __name__ == "__main__":
    main()
