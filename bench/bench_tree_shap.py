"""Benchmark: exact TreeSHAP by XGBoost and from per-leaf tables, by model size and batch size.

For each booster: the champion's two (from an MLflow store, explaining feature rows of
simulated landmark histories), and boosters of the project's settings (depth 4, monotone
where the project constrains) with as many trees as models grow at 100,000 and 1,000,000
clients (``--trees``), trained on those rows with random labels (TreeSHAP's cost depends on
the trees' shapes and the rows, not on what they learnt). For batches of 1 (a lone
request), 16 (a micro-batch) and ``--block`` rows (batch scoring), it times XGBoost's
contributions (its matrix and ``pred_contribs`` through the C API, one thread, as
``models.tree_shap``) and the tables' (``models.shap_tables``) both ways: one row at a time
through every tree, and in blocks of rows through each node (what ``contributions`` takes
from ``BLOCKS_FROM`` rows on). The three alternate in ``--rounds`` rounds; it prints the
fastest round per row and per tree and row, the ratios, and the largest difference from
XGBoost (the two table loops give identical values).

    uv run python bench/bench_tree_shap.py --tracking-uri sqlite:///data/mlflow.db
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.champion import load_champion, simulated_histories  # noqa: E402
from bench.machine import machine_line  # noqa: E402


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracking-uri", required=True, help="MLflow store with a champion")
    parser.add_argument("--trees", type=int, nargs="*", default=[500, 1600])
    parser.add_argument("--block", type=int, default=5000, help="rows of the largest batch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    options = parser.parse_args()
    load_before = os.getloadavg()

    import xgboost as xgb

    from features.engineering import FEATURE_NAMES, compute_features, monotone_constraints
    from models.estimators import BoosterSettings
    from models.shap_tables import ShapTables
    from models.tree_shap import ScoringMatrix, tree_contributions

    version, model = load_champion(options.tracking_uri)
    count = max(options.block, 2_000)
    histories = simulated_histories(max(500, count // 4), seed=options.seed, max_landmark=12)
    picked = np.random.default_rng(options.seed).permutation(len(histories))[:count]
    rows = compute_features(histories.take(np.sort(picked)))

    boosters: dict[str, xgb.Booster] = {
        f"champion v{version}, {outcome}": model.outcome_model(outcome).booster
        for outcome in ("dropout", "poor_outcome")
    }
    rng = np.random.default_rng(options.seed)
    for trees in options.trees:
        params = BoosterSettings(threads=os.cpu_count() or 1).params("poor_outcome")
        params["monotone_constraints"] = (
            "(" + ",".join(map(str, monotone_constraints("poor_outcome"))) + ")"
        )
        labels = rng.random(len(rows)) < 0.3
        boosters[f"depth 4, {trees} trees"] = xgb.train(
            params,
            xgb.DMatrix(rows, label=labels, feature_names=list(FEATURE_NAMES)),
            num_boost_round=trees,
        )

    print(machine_line(load_before))
    print(
        f"rows: feature rows of simulated landmark histories (seed {options.seed}); "
        f"fastest of {options.rounds} alternated rounds; one thread each"
    )
    print()
    print(
        "| booster | trees | built in | rows per call | XGBoost µs/row | tables, a row at a "
        "time | tables, blocks | ns per tree and row: XGBoost, a row at a time, blocks "
        "| XGBoost / blocks | a row at a time / blocks | largest difference |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, booster in boosters.items():
        booster.set_param({"nthread": 1})
        trees = booster.num_boosted_rounds()
        started = time.perf_counter()
        tables = ShapTables.of(booster)
        built = time.perf_counter() - started
        if tables is None:
            raise SystemExit(f"{name}: no tables (see the log)")
        for batch in (1, 16, options.block):
            chunk = rows[:batch]
            calls = max(1, 4_000 // batch)

            def by_xgboost(chunk=chunk, booster=booster):
                return tree_contributions(booster, ScoringMatrix(chunk, threads=1))

            def one_at_a_time(chunk=chunk, tables=tables):
                return tables.contributions(chunk, blocks=False)

            def in_blocks(chunk=chunk, tables=tables):
                return tables.contributions(chunk, blocks=True)

            ways = {"xgboost": by_xgboost, "rows": one_at_a_time, "blocks": in_blocks}
            timings = _alternated(ways, calls, options.rounds)
            difference = max(
                np.max(np.abs(way().astype(np.float64) - by_xgboost()))
                for way in (one_at_a_time, in_blocks)
            )
            xgb_row, a_row, blocks = (timings[k] / batch * 1e6 for k in ways)
            per_tree = ", ".join(f"{v / trees * 1e3:,.0f}" for v in (xgb_row, a_row, blocks))
            print(
                f"| {name} | {trees} | {built:.2f} s | {batch} | {xgb_row:,.1f} | "
                f"{a_row:,.1f} | {blocks:,.1f} | {per_tree} | {xgb_row / blocks:.1f}x | "
                f"{a_row / blocks:.2f}x | {difference:.1e} |"
            )
    print()
    print(machine_line(load_before))


def _alternated(
    ways: dict[str, Callable[[], object]], calls: int, rounds: int
) -> dict[str, float]:
    """Seconds per call of each way, the fastest of ``rounds``, the ways taking turns."""
    best = dict.fromkeys(ways, float("inf"))
    for _ in range(rounds):
        for name, way in ways.items():
            way()  # warm
            started = time.perf_counter()
            for _ in range(calls):
                way()
            best[name] = min(best[name], (time.perf_counter() - started) / calls)
    return best


if __name__ == "__main__":
    main()
