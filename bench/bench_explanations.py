"""Benchmark: where the time of one explained assessment goes, stage by stage, by batch size.

Loads the champion of an MLflow store and scores landmark histories of a simulated cohort
(every landmark 1..L of the model, a random sample) through the stages of
``RiskModel.assess``, each timed on its own: the features, the DMatrix (built only for a
booster without TreeSHAP tables), both boosters' TreeSHAP (from their tables, as ``assess``
computes it), the rest of both explanations (calibration, concepts, gaps), the factor
sentences of both outcomes (five each), the clinical signals, and the whole of ``assess``.
Each cell is microseconds per history, the best of ``--rounds`` rounds (the least disturbed
by the machine), for batches of 1 (a lone request), 16 (a micro-batch under load) and 256
(batch scoring's blocks).

    uv run python bench/bench_explanations.py --tracking-uri sqlite:///data/mlflow.db
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

BATCHES = (1, 16, 256)
_PARTS_OF_ASSESS = (
    "features",
    "DMatrix",
    "explanations, both (TreeSHAP included)",
    "factor sentences, both (5 each)",
    "clinical signals",
)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracking-uri", required=True, help="MLflow store with a champion")
    parser.add_argument("--histories", type=int, default=1024, help="sampled landmarks")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seed", type=int, default=5)
    options = parser.parse_args()
    if options.histories < max(BATCHES):
        parser.error(f"--histories must be at least {max(BATCHES)}, the largest batch")
    load_before = os.getloadavg()

    version, model = load_champion(options.tracking_uri)
    histories = simulated_histories(
        max(options.histories // 3, 200), seed=options.seed, max_landmark=model.max_landmark
    )
    rng = np.random.default_rng(options.seed)
    history = histories.take(rng.choice(len(histories), options.histories, replace=False))

    stages = _stages(model)
    table = {name: [] for name in stages}
    for size in BATCHES:
        batches = [history.take(np.arange(i, i + size)) for i in range(0, len(history), size)]
        batches = batches[: max(1, 256 // size)]  # the same 256 histories at every size
        for name, stage in stages.items():
            prepared = [stage.prepare(batch) for batch in batches]
            best = min(_timed(stage.run, prepared) for _ in range(options.rounds))
            table[name].append(best / (len(batches) * size) * 1e6)

    print(machine_line(load_before))
    print(
        f"model version {version}: L = {model.max_landmark}, "
        f"{model.dropout.booster.num_boosted_rounds()} and "
        f"{model.poor_outcome.booster.num_boosted_rounds()} trees; histories at landmarks "
        f"1..{model.max_landmark} of a simulated cohort (seed {options.seed}); "
        f"best of {options.rounds} rounds"
    )
    print()
    print("| stage | " + " | ".join(f"batch {size} (us per history)" for size in BATCHES) + " |")
    print("| --- | " + " | ".join("---:" for _ in BATCHES) + " |")
    for name, cells in table.items():
        print(f"| {name} | " + " | ".join(f"{cell:,.0f}" for cell in cells) + " |")
    parts = [p for p in _PARTS_OF_ASSESS if p != "DMatrix" or model.needs_scoring_matrix]
    summed = [sum(cells) for cells in zip(*(table[name] for name in parts), strict=True)]
    print()
    print(
        "- the stages that make up assess, summed (TreeSHAP counted once, in the "
        "explanations): " + ", ".join(f"{cell:,.0f}" for cell in summed) + " us per history"
    )


class _Stage:
    """A stage: what it needs, made untimed from a batch, and the timed call."""

    def __init__(self, prepare: Callable, run: Callable) -> None:
        self.prepare, self.run = prepare, run


def _stages(model) -> dict[str, _Stage]:
    from features.engineering import compute_features
    from features.signals import clinical_signals
    from models.explanations import contributions, explain, scoring_matrix, top_factors
    from models.sentence_inputs import ClientHistory

    def featurised(batch):
        features = compute_features(batch)
        return batch, features, scoring_matrix(features) if model.needs_scoring_matrix else None

    def explained(batch):
        batch, features, matrix = featurised(batch)
        explanations = {
            outcome: explain(
                m.booster, m.calibrator, features, matrix=matrix, tables=m.shap_tables
            )
            for outcome in ("dropout", "poor_outcome")
            for m in (model.outcome_model(outcome),)
        }
        return batch, features, explanations

    def treeshap(prepared):
        _, features, matrix = prepared
        for outcome in ("dropout", "poor_outcome"):
            m = model.outcome_model(outcome)
            contributions(m.booster, features, matrix=matrix, tables=m.shap_tables)

    def explanations(prepared):
        _, features, matrix = prepared
        for outcome in ("dropout", "poor_outcome"):
            m = model.outcome_model(outcome)
            explain(m.booster, m.calibrator, features, matrix=matrix, tables=m.shap_tables)

    def factors(prepared):
        batch, features, explained_ = prepared
        clients = ClientHistory.each(batch)
        for outcome, explanation in explained_.items():
            top_factors(
                explanation, features, clients, outcome=outcome, limit=5,
                reference=model.reference_profile,
            )  # fmt: skip

    return {
        "features": _Stage(lambda b: b, compute_features),
        "DMatrix": _Stage(compute_features, scoring_matrix),
        "TreeSHAP, both boosters": _Stage(featurised, treeshap),
        "explanations, both (TreeSHAP included)": _Stage(featurised, explanations),
        "factor sentences, both (5 each)": _Stage(explained, factors),
        "clinical signals": _Stage(
            lambda b: (compute_features(b), b), lambda p: clinical_signals(*p)
        ),
        "whole assess": _Stage(lambda b: b, model.assess),
    }


def _timed(run: Callable, prepared: list) -> float:
    started = time.perf_counter()
    for item in prepared:
        run(item)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
