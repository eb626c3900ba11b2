"""``dropout-risk score-fhir``: score a FHIR Bulk Data export (docs/fhir.md, "Bulk scoring")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.console import fail, say
from features.vocabulary import DEFAULT_FACTORS

#: Exit code when the RiskAssessments were written but some lines or patients were not scored.
PARTLY_SCORED = 3


def score_fhir(
    source: Annotated[
        Path,
        typer.Option(
            "--input",
            help="The export's directory: Patient.ndjson, EpisodeOfCare.ndjson, "
            "Encounter.ndjson, Appointment.ndjson, Observation.ndjson, "
            "QuestionnaireResponse.ndjson (or Type.1.ndjson, Type.2.ndjson... splits).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Output directory: RiskAssessment.ndjson, and OperationOutcome.ndjson "
            "listing what was not scored.",
            show_default=False,
        ),
    ],
    model: Annotated[
        str | None, typer.Option("--model", help="Model version (default: champion).")
    ] = None,
    factors: Annotated[
        int,
        typer.Option(
            "--factors",
            min=0,
            max=10,
            help="Top factors per RiskAssessment's rationale (0: none).",
        ),
    ] = DEFAULT_FACTORS,
) -> None:
    """Score a FHIR Bulk Data export: two RiskAssessments per patient, as of the latest session.

    The probabilities are those `dropout-risk score` gives from the same facts as tables.
    Memory stays bounded whatever the export's size. A malformed line or a patient that
    cannot be read is reported (file and line number) and the rest is still scored.

    Exit codes: 0 every patient scored; 3 RiskAssessment.ndjson written but some lines or
    patients were not scored (on screen and in OperationOutcome.ndjson); 1 nothing scored
    (no export, no model), with a one-line reason.
    """
    from rich.console import Console

    from cli.main import _training_settings
    from service.fhir.bulk import PROBLEMS, score_export
    from training.registry import load_model

    console = Console(stderr=True, highlight=False)
    settings = _training_settings()
    try:
        risk_model, version = load_model(settings, version=model)
    except LookupError as error:
        fail(str(error))
    console.log(f"model {settings.model_name} version {version}")
    try:
        result = score_export(
            risk_model,
            source,
            out,
            model_name=settings.model_name,
            model_version=version,
            factors=factors,
            progress=console.log,
        )
    except (FileNotFoundError, NotADirectoryError) as error:
        fail(str(error))
    for path in result.ignored_files:
        console.log(f"ignored {path.name}: not a resource type that is read")
    for problem in result.problems:
        typer.echo(f"problem: {problem}", err=True)
    if result.problem_count > len(result.problems):
        more = result.problem_count - len(result.problems)
        typer.echo(f"problem: ... and {more:,} more (all in {out / PROBLEMS})", err=True)
    rate = result.scored / result.seconds if result.seconds else 0.0
    say(
        f"scored {result.scored:,} of {result.patients:,} patients from {result.lines:,} "
        f"lines in {result.seconds:,.1f} s ({rate:,.0f} patients/s) with version {version}: "
        f"{out / 'RiskAssessment.ndjson'}"
    )
    if result.scored == 0:
        fail("no patient could be scored", code=1)
    if not result.complete:
        fail(
            f"{result.problem_count:,} problem(s); the rest was scored (see {out / PROBLEMS})",
            code=PARTLY_SCORED,
        )
