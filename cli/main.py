"""``dropout-risk``: one command for data scientists and operators (spec/cli.md).

Each subcommand is a thin wrapper: it parses options, calls into ``features``,
``training`` or ``service``, shows progress, prints the result, and exits 0 on success or
non-zero with a one-line reason on failure.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cli.audit_commands import export
from cli.console import fail, progress, say
from cli.fhir_command import score_fhir
from cli.model_command import describe_model
from cli.monitor_command import monitor
from cli.privacy_commands import erase, reads
from cli.service_commands import serve
from cli.token_commands import token_app
from features.vocabulary import DEFAULT_LANDMARKS

app = typer.Typer(
    name="dropout-risk",
    help="Calibrated, explained early-warning scores for psychotherapy dropout and outcome.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ClientsOption = Annotated[
    Path, typer.Option("--clients", help="Clients table (.csv or .parquet).", show_default=False)
]
SessionsOption = Annotated[
    Path, typer.Option("--sessions", help="Sessions table (.csv or .parquet).", show_default=False)
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: a local cluster).",
    ),
]


@app.command()
def synth(
    clients: Annotated[int, typer.Option("--clients", min=1, help="Number of episodes.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for clients.csv, sessions.csv.")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    report: Annotated[
        bool, typer.Option("--report", help="Print the achieved literature targets.")
    ] = False,
) -> None:
    """Write a contract-valid synthetic clinic cohort."""
    from training.synth import achieved_targets, simulate_cohort, write_cohort

    with progress(f"simulating {clients:,} clients"):
        cohort = simulate_cohort(n_clients=clients, seed=seed)
    with progress(f"writing {out}"):
        written = write_cohort(cohort, out)
    say(
        f"wrote {len(cohort.clients):,} clients and {len(cohort.sessions):,} sessions: "
        + ", ".join(str(path) for path in written.values())
    )
    if report:
        checks = achieved_targets(cohort)
        for check in checks:
            mark = "ok  " if check.passed else "MISS"
            say(
                f"{mark} {check.name}: {check.achieved:.3f} "
                f"(target {check.low:g}..{check.high:g}; {check.source})"
            )
        if not all(check.passed for check in checks):
            fail("some simulator targets were missed (see MISS lines)")


@app.command()
def validate(clients: ClientsOption, sessions: SessionsOption) -> None:
    """Check an extract against the data contract and print every failure."""
    from features.contract import ContractError, read_table, validate_extract

    try:
        with progress("validating"):
            report = validate_extract(read_table(clients), read_table(sessions))
    except ContractError as error:
        fail(str(error))
    for line in report.lines():
        say(line)
    if not report.ok:
        fail(report.summary())
    say(report.summary())


def _failures(error: Exception) -> list[str]:
    """Every failure of an extract that breaks the data contract (as ``validate`` lists
    them), so that a command refusing it never reports the count alone."""
    from features.contract import ContractViolation

    return error.report.lines() if isinstance(error, ContractViolation) else []


def _training_settings():
    from training.settings import TrainingSettings

    return TrainingSettings()


class Engine(StrEnum):
    """Where ``train`` and ``score`` run."""

    single = "single"
    dask = "dask"


@app.command()
def train(
    clients: ClientsOption,
    sessions: SessionsOption,
    landmarks: Annotated[
        int, typer.Option("--landmarks", min=1, max=20, help="Landmarks L (sessions 1..L).")
    ] = DEFAULT_LANDMARKS,
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="MLflow experiment name.")
    ] = None,
    cv_folds: Annotated[
        int, typer.Option("--cv-folds", min=0, help="Client-grouped CV folds (0: none).")
    ] = 5,
    leave_one_clinic_out: Annotated[
        bool, typer.Option(help="Also train without each clinic and test on it.")
    ] = True,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap replicates for CIs.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed of the client splits.")] = 0,
    learning_rate: Annotated[
        float | None,
        typer.Option(
            "--learning-rate",
            min=0.01,
            max=1.0,
            help="The boosters' learning rate (default 0.1, the tuned one). Larger grows "
            "fewer trees, so trains and explains faster, at some cost in AUROC: "
            "docs/speed.md measures 0.3 at a million clients.",
        ),
    ] = None,
    if_no_champion: Annotated[
        bool, typer.Option("--if-no-champion", help="Do nothing when a champion exists.")
    ] = False,
    engine: Annotated[
        Engine,
        typer.Option(
            "--engine",
            help="single: this process; dask: a Dask cluster, the extract as Parquet files "
            "or directories (cross-validation and leave-one-clinic-out are not run).",
        ),
    ] = Engine.single,
    scheduler: SchedulerOption = None,
    override_gate: Annotated[
        str | None,
        typer.Option(
            "--override-gate",
            metavar="REASON",
            help="Promote the new version even if the gate refuses it (demo, test and bench "
            "cohorts); the reason and your user name are recorded in the run and model card.",
        ),
    ] = None,
) -> None:
    """Train, evaluate and register both predictors; promote if the gate passes.

    Exits 0 once a version is registered, whatever the gate decided.
    """
    from features.contract import ContractError, ContractViolation
    from training.held_out import RULE_BASELINES
    from training.pipeline import TrainingConfig
    from training.registry import champion_version
    from training.run import train_and_register

    if scheduler is not None and engine is not Engine.dask:
        fail("--scheduler needs --engine dask")
    settings = _training_settings()
    if experiment:
        settings = settings.model_copy(update={"experiment": experiment})
    if if_no_champion and (version := champion_version(settings)) is not None:
        say(f"champion is version {version}; nothing to train")
        return
    config = TrainingConfig(
        max_landmark=landmarks,
        cv_folds=cv_folds,
        leave_one_clinic_out=leave_one_clinic_out,
        bootstrap=bootstrap,
        seed=seed,
    )
    if learning_rate is not None:
        config = dataclasses.replace(
            config, booster=dataclasses.replace(config.booster, learning_rate=learning_rate)
        )
    try:
        with progress("training") as step:
            run = train_and_register(
                clients, sessions, settings=settings, config=config, progress=step,
                engine=engine.value, scheduler=scheduler, override_gate=override_gate,
            )  # fmt: skip
    except (ContractError, ContractViolation, ConnectionError) as error:
        fail(str(error), details=_failures(error))
    for outcome, sections in run.result.metrics.items():
        for model, stats in sections["test"].items():
            auroc = stats["auroc"]
            line = (
                f"{outcome:12s} {model:16s} AUROC {auroc.value:.3f} "
                f"({auroc.low:.3f}-{auroc.high:.3f})"
            )
            if model in RULE_BASELINES:
                # A 0/1 flag: "at moderate" means flagged (any cut-off between 0 and 1).
                line += (
                    f"  flag sensitivity {stats['sensitivity_at_moderate'].value:.2f}"
                    f"  PPV {stats['ppv_at_moderate'].value:.2f}"
                )
            else:
                line += (
                    f"  ECE {stats['ece'].value:.3f}  slope {stats['calibration_slope'].value:.2f}"
                )
            say(line)
    registration = run.registration
    say(f"registered version {registration.version}")
    verdict = registration.verdict
    say(f"gate: {verdict.verdict} ({verdict.basis})")
    for reason in verdict.reasons:
        say(f"  {reason}")
    if verdict.override is not None:
        say(f"  override by {verdict.override.user}: {verdict.override.reason}")
    say(
        f"{settings.model_name} version {registration.version} is "
        + ("now the champion" if registration.promoted else "registered but not promoted")
    )


@app.command()
def score(
    clients: ClientsOption,
    sessions: SessionsOption,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Output table (.csv or .parquet); with --engine dask, a directory of Parquet "
            "files, one per partition.",
        ),
    ],
    model: Annotated[
        str | None, typer.Option("--model", help="Model version (default: champion).")
    ] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Add factors and signals.")] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Processes scoring blocks of clients (default: the cores, from 5,000 clients).",
        ),
    ] = None,
    engine: Annotated[
        Engine,
        typer.Option(
            "--engine",
            help="single: this machine, in blocks of clients; dask: a Dask cluster, the "
            "extract as Parquet files or directories.",
        ),
    ] = Engine.single,
    scheduler: SchedulerOption = None,
) -> None:
    """Score every client at each landmark k = 1..min(L, sessions so far)."""
    from features.contract import ContractError, ContractViolation, read_extract
    from models.batch import default_workers, score_in_blocks
    from training.registry import load_model

    if scheduler is not None and engine is not Engine.dask:
        fail("--scheduler needs --engine dask")
    if engine is Engine.dask and workers is not None:
        fail("--workers is for --engine single; a Dask cluster has its own workers")
    if engine is Engine.dask and out.suffix.lower() not in ("", ".parquet", ".pq"):
        fail(f"{out}: --engine dask writes a directory of Parquet files; name a directory")
    if engine is Engine.single and out.suffix.lower() not in _TABLE_SUFFIXES:
        fail(f"{out}: unsupported output type; use .csv or .parquet")
    try:
        with progress("scoring") as step:
            step("loading the model")
            risk_model, version = load_model(_training_settings(), version=model)
            if engine is Engine.dask:
                from training.distributed_scoring import score_on_cluster

                step("scoring the extract in partitions on the Dask cluster")
                run = score_on_cluster(
                    clients, sessions, out, model=risk_model, explain=explain,
                    scheduler=scheduler,
                )  # fmt: skip
                rows, where = run.rows, f"{out} ({len(run.files)} Parquet files)"
            else:
                step("reading and validating the extract")
                client_table, session_table = read_extract(clients, sessions)
                step("scoring")
                scores = score_in_blocks(
                    risk_model, client_table, session_table, explain=explain,
                    workers=workers or default_workers(len(client_table)),
                )  # fmt: skip
                _write_table(scores, out)
                rows, where = len(scores), str(out)
    except (ContractError, ContractViolation, LookupError, ConnectionError) as error:
        fail(str(error), details=_failures(error))
    say(f"scored {rows:,} landmarks with version {version}: {where}")


_TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def _write_table(table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        table.to_parquet(path, index=False)
    elif path.suffix.lower() == ".csv":
        table.to_csv(path, index=False)
    else:
        fail(f"{path}: unsupported output type; use .csv or .parquet")


@app.command()
def evaluate(
    clients: ClientsOption,
    sessions: SessionsOption,
    model: Annotated[
        str | None, typer.Option("--model", help="Model version (default: champion).")
    ] = None,
    oracle: Annotated[
        Path | None,
        typer.Option("--oracle", help="Simulator's true probabilities (oracle.csv), if known."),
    ] = None,
) -> None:
    """Score a labelled extract with a registered model; print and log the metrics."""
    import pandas as pd

    from features.contract import ContractError, ContractViolation
    from training.run import evaluate_registered

    settings = _training_settings()
    try:
        with progress("evaluating") as step:
            step("scoring the extract")
            truth = pd.read_csv(oracle) if oracle else None
            version, table = evaluate_registered(
                clients, sessions, settings=settings, version=model, oracle=truth
            )
    except (ContractError, ContractViolation, LookupError) as error:
        fail(str(error), details=_failures(error))
    say(f"{settings.model_name} version {version}")
    columns = ["outcome", "model", "n", "auroc", "auprc", "brier", "calibration_slope", "ece"]
    say(table[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))


@app.command("model")
def show_model(
    version: Annotated[
        str | None, typer.Option("--version", help="A version (default: the champion).")
    ] = None,
) -> None:
    """Show a registered model: labels, landmarks, the gate's verdict, metrics, risk levels."""
    from models.registry_store import held_out_metrics
    from training.registry import load_model

    settings = _training_settings()
    try:
        with progress("reading the registry"):
            risk_model, chosen = load_model(settings, version=version)
            _, metrics = held_out_metrics(settings, chosen)
    except LookupError as error:
        fail(str(error))
    for line in describe_model(risk_model, chosen, metrics, name=settings.model_name):
        say(line)


app.command("score-fhir")(score_fhir)
app.command()(serve)
app.command()(export)
app.command()(erase)
app.command()(reads)
app.command()(monitor)
app.add_typer(token_app, name="token")


def main() -> None:
    """Entry point of the console script."""
    app()
