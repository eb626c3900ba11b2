"""``dropout-risk``: one command for data scientists and operators (spec/cli.md).

Each subcommand is a thin wrapper: it parses options, calls into ``features``,
``training`` or ``service``, shows progress, prints the result, and exits 0 on success or
non-zero with a one-line reason on failure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.console import fail, progress, say
from features.contract import ContractError, read_table, validate_extract

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


def main() -> None:
    """Entry point of the console script."""
    app()
