"""Ablation and tuning of the predictors, on two configurations of the simulator.

Why does a plain, unconstrained XGBoost on simple per-measure summaries beat the project's
models on an independent simulator's cohort? This script answers it with client-grouped
cross-validation (with intervals) on two configurations of ``training/synth``: the default
one and a second one with other effect sizes and another clinic mix, so that a choice kept
here is not an artefact of one generator. Each configuration is a set of changes against the
project's current model (monotone constraints on or off, per concept; feature groups on or
off; hyper-parameters) plus the reference model of the issue (depth 4, unconstrained, on
per-measure first/last/mean/min/max/count/slope, attendance and intake details).

``--tune SECONDS`` then runs Optuna (client-grouped CV, a time budget) over the booster's
hyper-parameters of the chosen configuration. The table is printed as markdown for the
model card (``docs/model-quality.md``).

    uv run python bench/bench_ablation.py --clients 8000 --folds 3 --tune 600
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from features.engineering import FEATURES, compute_features, monotone_constraints
from features.history import HistoryBatch
from features.instruments import MEASURE_COLUMNS
from features.landmarks import build_landmarks
from features.vocabulary import GENDERS, OUTCOMES, PRIMARY_CONCERNS
from models.estimators import BoosterSettings
from training.fitting import split_clients
from training.synth.params import SimulationParams
from training.synth.simulate import simulate_cohort

#: The second configuration: weaker alliance effects, stronger attendance and clinic
#: effects, more clinics, faster and more varied recovery (every value stays in range).
SECOND_CONFIGURATION = {
    "n_clinics": 14,
    "dropout_alliance": 0.25,
    "dropout_missed_session": 0.8,
    "dropout_engagement": 0.8,
    "dropout_clinic_sd": 0.5,
    "dropout_therapist_sd": 0.35,
    "dropout_intake_severity": 0.1,
    "recovery_rate_mean": 0.2,
    "recovery_rate_sd": 0.11,
    "recovery_therapist_sd": 0.02,
    "alliance_to_symptoms": 0.08,
    "missed_rate": 0.12,
}


@dataclass(frozen=True)
class Variant:
    """One model of the ablation: which columns, which constraints, which settings."""

    name: str
    columns: Callable[[Cohort], np.ndarray]
    constraints: Callable[[str], tuple[int, ...]]
    settings: BoosterSettings


@dataclass
class Cohort:
    """A simulated cohort's landmark rows, features and labels."""

    features: np.ndarray
    reference: np.ndarray
    labels: dict[str, np.ndarray]
    clients: np.ndarray
    landmark: np.ndarray


def _cohort(n_clients: int, seed: int, params: SimulationParams, landmarks: int) -> Cohort:
    simulated = simulate_cohort(n_clients=n_clients, seed=seed, params=params)
    points = build_landmarks(simulated.clients, simulated.sessions, max_landmark=landmarks)
    examples = points.examples
    return Cohort(
        features=compute_features(points.history),
        reference=reference_features(points.history),
        labels={o: examples[o].to_numpy(dtype=float) for o in OUTCOMES},
        clients=examples["client_id"].to_numpy(dtype=str),
        landmark=examples["as_of_session"].to_numpy(),
    )


def reference_features(history: HistoryBatch) -> np.ndarray:
    """The issue's reference inputs: simple per-measure summaries and intake details."""
    scores = history.measures
    seen = ~np.isnan(scores)
    count = seen.sum(axis=1)
    window = scores.shape[1]
    first_slot = np.argmax(seen, axis=1)
    last_slot = window - 1 - np.argmax(seen[:, ::-1, :], axis=1)
    first = np.take_along_axis(scores, first_slot[:, None, :], axis=1)[:, 0, :]
    last = np.take_along_axis(scores, last_slot[:, None, :], axis=1)[:, 0, :]
    first[count == 0] = np.nan
    last[count == 0] = np.nan
    session = np.where(seen, np.arange(1, window + 1)[None, :, None], np.nan)
    centred = session - np.nanmean(session, axis=1, keepdims=True)
    slope = np.nansum(centred * (scores - np.nanmean(scores, axis=1, keepdims=True)), axis=1)
    slope = np.where(count >= 2, slope / np.nansum(centred**2, axis=1), np.nan)
    k = history.as_of_session
    rows = np.arange(len(k))
    columns = [
        first,
        last,
        np.nanmean(scores, axis=1),
        np.nanmin(scores, axis=1),
        np.nanmax(scores, axis=1),
        count.astype(float),
        slope,
        np.nansum(history.attended == 0, axis=1)[:, None].astype(float),
        (history.attended[rows, k - 1] == 0)[:, None].astype(float),
        k[:, None].astype(float),
        history.age[:, None].astype(float),
        history.prior_treatment[:, None].astype(float),
        np.column_stack([history.gender == g for g in GENDERS]).astype(float),
        np.column_stack([history.primary_concern == c for c in PRIMARY_CONCERNS]).astype(float),
    ]
    return np.column_stack(columns)


def _folds(clients: np.ndarray, folds: int, seed: int) -> np.ndarray:
    unique, inverse = np.unique(clients, return_inverse=True)
    fold_of = np.random.default_rng(seed).integers(0, folds, len(unique))
    return fold_of[inverse]


def _fit_predict(
    variant: Variant, cohort: Cohort, outcome: str, train: np.ndarray, test: np.ndarray
) -> np.ndarray:
    features = variant.columns(cohort)
    labels = cohort.labels[outcome]
    fit, valid = split_clients(cohort.clients[train], (0.85, 0.15), np.random.default_rng(0))
    train_rows = np.flatnonzero(train)
    params = variant.settings.params(outcome)
    constraints = variant.constraints(outcome)
    params["monotone_constraints"] = "(" + ",".join(map(str, constraints)) + ")"
    fit_data = xgb.DMatrix(features[train_rows[fit]], label=labels[train_rows[fit]])
    valid_data = xgb.DMatrix(features[train_rows[valid]], label=labels[train_rows[valid]])
    booster = xgb.train(
        params,
        fit_data,
        num_boost_round=variant.settings.max_rounds,
        evals=[(valid_data, "validation")],
        early_stopping_rounds=variant.settings.early_stopping_rounds,
        verbose_eval=False,
    )
    return booster.predict(
        xgb.DMatrix(features[test]), iteration_range=(0, booster.best_iteration + 1)
    )


def cross_validated_auroc(
    variant: Variant, cohort: Cohort, *, folds: int, seed: int = 0
) -> dict[str, dict[str, tuple[float, float]]]:
    """Per outcome and landmark range, the mean AUROC over folds and its 95% half-width."""
    fold = _folds(cohort.clients, folds, seed)
    result: dict[str, dict[str, tuple[float, float]]] = {}
    for outcome in OUTCOMES:
        labelled = ~np.isnan(cohort.labels[outcome])
        scores = {"1-12": [], "1-5": []}
        for f in range(folds):
            train, test = labelled & (fold != f), labelled & (fold == f)
            predicted = _fit_predict(variant, cohort, outcome, train, test)
            labels = cohort.labels[outcome][test]
            early = cohort.landmark[test] <= 5
            scores["1-12"].append(roc_auc_score(labels, predicted))
            scores["1-5"].append(roc_auc_score(labels[early], predicted[early]))
        result[outcome] = {
            span: (float(np.mean(v)), 1.96 * float(np.std(v, ddof=1)) / np.sqrt(folds))
            for span, v in scores.items()
        }
    return result


def _concept_mask(concepts: set[str]) -> np.ndarray:
    return np.array([f.concept in concepts for f in FEATURES])


def _statistic_mask(statistics: set[str]) -> np.ndarray:
    return np.array([f.statistic in statistics for f in FEATURES])


def _project(
    name: str,
    *,
    drop: np.ndarray | None = None,
    free: np.ndarray | None = None,
    constraints: str = "enforced",
    **settings: object,
) -> Variant:
    """The project's features and booster with changes.

    ``constraints``: ``"documented"`` holds the trees to every direction the features
    document (the revision-1 model), ``"enforced"`` to the chosen ones only
    (:data:`features.engineering.ENFORCED_CONCEPTS`), ``"none"`` to none.
    """
    keep = np.ones(len(FEATURES), dtype=bool) if drop is None else ~drop

    def directions(outcome: str) -> tuple[int, ...]:
        if constraints == "documented":
            chosen = np.array([f.direction(outcome) for f in FEATURES])
        else:
            chosen = np.array(monotone_constraints(outcome))
        if constraints == "none":
            chosen[:] = 0
        if free is not None:
            chosen[free] = 0
        return tuple(int(d) for d in chosen[keep])

    return Variant(
        name,
        columns=lambda cohort: cohort.features[:, keep],
        constraints=directions,
        settings=dataclasses.replace(BoosterSettings(), **settings),
    )


#: The revision-1 booster: depth 2, heavier regularisation.
_REVISION_1 = {"max_depth": 2, "min_child_weight": 20.0, "reg_lambda": 5.0}


def variants() -> list[Variant]:
    """The ablation: the revision-1 model, the steps to the chosen one, one change at a
    time from the chosen one, then the reference."""
    new = _statistic_mask({"mean", "recent_change", "missed_in_a_row", "scores"})
    reference_width = 7 * len(MEASURE_COLUMNS) + 5 + len(GENDERS) + len(PRIMARY_CONCERNS)
    rows = [
        _project(
            "revision 1: depth 2, every documented direction, old features",
            drop=new,
            constraints="documented",
            **_REVISION_1,
        ),  # fmt: skip
        _project("+ new features", constraints="documented", **_REVISION_1),
        _project("+ depth 4, lighter regularisation", constraints="documented"),
        _project("chosen: + only the enforced constraints"),
        _project("chosen, no constraints at all", constraints="none"),
        _project(
            "chosen, constraints off for client_alliance", free=_concept_mask({"client_alliance"})
        ),  # fmt: skip
        _project("chosen, constraints off for attendance", free=_concept_mask({"attendance"})),
        _project("chosen, without the new features", drop=new),
    ]
    for concept in ("therapist_alliance", "alliance_agreement", "demographics", "treatment_stage"):
        rows.append(_project(f"chosen, without {concept}", drop=_concept_mask({concept})))
    rows += [
        _project("chosen, depth 3", max_depth=3),
        _project("chosen, depth 6, min child weight 50", max_depth=6, min_child_weight=50.0),
        _project("chosen, learning rate 0.05", learning_rate=0.05),
    ]
    # What Optuna preferred on 4,000 clients (slow learning, strong regularisation), at
    # three depths: does it hold on a larger cohort?
    slow = {"learning_rate": 0.035, "min_child_weight": 36.0, "reg_lambda": 13.0,
            "subsample": 0.6, "colsample_bytree": 0.87}  # fmt: skip
    for depth in (2, 3, 4):
        name = f"slow: depth {depth}, learning rate 0.035, min child weight 36, lambda 13"
        rows.append(_project(name, max_depth=depth, **slow))
    rows += [
        Variant(
            "reference: depth 4, unconstrained, simple summaries",
            columns=lambda cohort: cohort.reference,
            constraints=lambda _: (0,) * reference_width,
            settings=dataclasses.replace(
                BoosterSettings(),
                max_depth=4,
                min_child_weight=1.0,
                reg_lambda=1.0,
                subsample=1.0,
                colsample_bytree=1.0,
            ),
        ),
    ]
    return rows


def _row(name: str, result: dict[str, dict[str, tuple[float, float]]]) -> str:
    cells = [
        f"{result[o][span][0]:.3f} ± {result[o][span][1]:.3f}"
        for o in OUTCOMES
        for span in ("1-12", "1-5")
    ]
    return f"| {name} | " + " | ".join(cells) + " |"


def tune(cohort: Cohort, *, folds: int, seconds: float) -> tuple[BoosterSettings, list[str]]:
    """Optuna over the booster's settings (client-grouped CV, both outcomes, landmarks 1-12).

    The objective is the mean AUROC of both outcomes; trials stop at the time budget.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        settings = {
            "max_depth": trial.suggest_int("max_depth", 2, 6),
            "learning_rate": trial.suggest_float("learning_rate", 0.03, 0.3, log=True),
            "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 100.0, log=True),
            "reg_lambda": trial.suggest_float("reg_lambda", 0.5, 20.0, log=True),
            "subsample": trial.suggest_float("subsample", 0.6, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        }
        result = cross_validated_auroc(_project("trial", **settings), cohort, folds=folds)
        return float(np.mean([result[o]["1-12"][0] for o in OUTCOMES]))

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.enqueue_trial({f.name: getattr(BoosterSettings(), f.name) for f in _TUNED})
    study.optimize(objective, timeout=seconds)
    trials = sorted(study.trials, key=lambda t: -(t.value or 0))[:5]
    lines = [
        f"Optuna, {len(study.trials)} trials in {seconds:.0f} s (mean AUROC of both outcomes, "
        f"landmarks 1-12; the chosen settings, the first trial, scored "
        f"{study.trials[0].value:.4f}); the five best:",
        "",
        "| mean AUROC | " + " | ".join(f.name for f in _TUNED) + " |",
        "|---|" + "---|" * len(_TUNED),
    ]
    for trial in trials:
        cells = [f"{trial.params[f.name]:.3g}" for f in _TUNED]
        lines.append(f"| {trial.value:.4f} | " + " | ".join(cells) + " |")
    best = dataclasses.replace(BoosterSettings(), **study.best_params)
    return best, lines


_TUNED = tuple(
    f
    for f in dataclasses.fields(BoosterSettings)
    if f.name
    in ("max_depth", "learning_rate", "min_child_weight", "reg_lambda", "subsample",
        "colsample_bytree")
)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=8000)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--landmarks", type=int, default=12)
    parser.add_argument("--only", default="", help="run variants whose name contains one of "
                        "these comma-separated words")  # fmt: skip
    parser.add_argument("--configurations", default="default,second")
    parser.add_argument("--tune", type=float, default=0, help="Optuna time budget, seconds")
    parser.add_argument("--write", type=Path, help="also write the tables to this file")
    options = parser.parse_args()
    configurations = {
        "default": SimulationParams(),
        "second": dataclasses.replace(SimulationParams(), **SECOND_CONFIGURATION),
    }
    lines: list[str] = []

    def say(line: str = "") -> None:
        lines.append(line)
        print(line, flush=True)

    cohorts = {}
    for configuration in options.configurations.split(","):
        started = time.perf_counter()
        cohort = _cohort(options.clients, 11, configurations[configuration], options.landmarks)
        cohorts[configuration] = cohort
        say(f"The simulator's {configuration} configuration: {options.clients:,} clients, "
            f"{len(cohort.clients):,} landmark rows; AUROC, mean over {options.folds} "
            "client-grouped folds ± 95% half-width:")  # fmt: skip
        say()
        say("| variant | dropout 1-12 | dropout 1-5 | poor outcome 1-12 | poor outcome 1-5 |")
        say("|---|---|---|---|---|")
        for variant in variants():
            if options.only and not any(w in variant.name for w in options.only.split(",")):
                continue
            say(_row(variant.name, cross_validated_auroc(variant, cohort, folds=options.folds)))
        say()
        print(f"({time.perf_counter() - started:.0f} s)")
    if options.tune:
        best, table = tune(cohorts["default"], folds=options.folds, seconds=options.tune)
        for line in table:
            say(line)
        say()
        say("The best trial's settings on every configuration:")
        say()
        say(
            "| configuration | dropout 1-12 | dropout 1-5 | poor outcome 1-12 | poor outcome 1-5 |"
        )
        say("|---|---|---|---|---|")
        tuned = Variant("tuned", lambda c: c.features, monotone_constraints, best)
        for name, cohort in cohorts.items():
            say(_row(name, cross_validated_auroc(tuned, cohort, folds=options.folds)))
        say()
    if options.write:
        heading = [
            "## How this configuration was chosen",
            "",
            "Written by `bench/bench_ablation.py` (client-grouped cross-validation on the "
            "project's simulator; the choices and their reasons are in docs/model-quality.md).",
            "",
        ]
        options.write.write_text("\n".join(heading + lines) + "\n")


if __name__ == "__main__":
    main()
