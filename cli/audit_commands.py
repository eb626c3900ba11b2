"""``export``: the audit store's assessments and outcomes as contract tables, for retraining."""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.console import fail, progress, say

if TYPE_CHECKING:
    from monitoring.export import Reconstruction

REPORT_FILE = "export-report.json"
"""The export report's name, beside the tables: counts and every client left out, and why."""
_SHOWN_LEFT_OUT = 20  # left-out clients printed one by one; the report file lists them all


#: The options of every command that reads the audit store.
DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Audit database (default: DATABASE_URL, else the service's data directory).",
        show_default=False,
    ),
]
SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Only records stored at or after this ISO 8601 date or time (UTC if no offset).",
        show_default=False,
    ),
]
UntilOption = Annotated[
    str | None,
    typer.Option(
        "--until",
        help="Only records stored before this ISO 8601 date or time (UTC if no offset).",
        show_default=False,
    ),
]


class TableFormat(StrEnum):
    """File format of the exported tables."""

    csv = "csv"
    parquet = "parquet"


def export(
    out: Annotated[
        Path,
        typer.Option("--out", help="Directory for the clients and sessions tables and report."),
    ],
    database_url: DatabaseUrlOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    table_format: Annotated[
        TableFormat, typer.Option("--format", help="Format of the tables.")
    ] = TableFormat.csv,
    clinics: Annotated[
        list[str] | None,
        typer.Option(
            "--clinic", help="Export this clinic's records (repeat).", show_default=False
        ),
    ] = None,
    all_clinics: Annotated[
        bool, typer.Option("--all-clinics", help="Export every clinic's records (operators).")
    ] = False,
) -> None:
    """Turn stored assessments and reported outcomes of one clinic (or the named clinics,
    or all) into contract tables to retrain on; an erased client is never exported."""
    from monitoring.export import ExportError, reconstruct_extract
    from service.audit import AuditStore, AuditUnavailableError
    from service.audit.clinics import qualified_records

    if bool(clinics) == all_clinics:
        fail("name the clinic(s) to export with --clinic C (repeat), or give --all-clinics")
    chosen = None if all_clinics else frozenset(clinics or ())
    window = {
        "since": moment_option(since, option="--since"),
        "until": moment_option(until, option="--until"),
    }
    url = audit_url_option(database_url)
    try:
        with progress("exporting") as step, AuditStore.open(url) as store:
            step("reading assessments and outcomes")
            assessments, outcomes = qualified_records(
                list(store.assessments(**window, clinics=chosen)),
                list(store.outcomes(**window, clinics=chosen)),
            )
            rebuilt = reconstruct_extract(assessments=assessments, outcomes=outcomes)
            store.reads.record(
                caller=f"export by {_operator()}",
                what="export",
                clinic_id=",".join(sorted(chosen)) if chosen else "*",
            )
    except (AuditUnavailableError, ValueError) as error:
        fail(str(error))
    except ExportError as error:
        for line in error.report.lines():
            say(line)
        fail(f"a bug, please report it: {error}")
    if rebuilt.assessments_read == 0:
        fail("nothing to export: no assessment is stored" + _window_words(since, until))
    try:
        paths = _write(rebuilt, out_dir=out, table_format=table_format)
    except OSError as error:
        fail(f"cannot write the export to {out}: {error.strerror or error}")
    _print_report(rebuilt, paths)


def _write(
    rebuilt: Reconstruction, *, out_dir: Path, table_format: TableFormat
) -> dict[str, Path]:
    """Write the tables (contract column order) and the report; return the paths by name."""
    from features.schemas import CLIENT_COLUMNS, SESSION_COLUMNS

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "clients": out_dir / f"clients.{table_format.value}",
        "sessions": out_dir / f"sessions.{table_format.value}",
        "report": out_dir / REPORT_FILE,
    }
    for name, columns in (("clients", CLIENT_COLUMNS), ("sessions", SESSION_COLUMNS)):
        table = getattr(rebuilt, name)[list(columns)]
        _private_file(paths[name])
        if table_format is TableFormat.parquet:
            table.to_parquet(paths[name], index=False)
        else:
            table.to_csv(paths[name], index=False, date_format="%Y-%m-%d")
    _private_file(paths["report"])
    paths["report"].write_text(json.dumps(rebuilt.report(), indent=2) + "\n")
    return paths


def _private_file(path: Path) -> None:
    """Create ``path`` empty and readable by its owner only, before personal data goes in."""
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))


def _operator() -> str:
    """Who runs the command, for the read log."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def moment_option(text: str | None, *, option: str) -> datetime | None:
    """An option's ISO 8601 date or time, timezone-aware (UTC when it names no offset)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option}: not an ISO 8601 date or time: {text!r}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def audit_url_option(database_url: str | None, *, must_exist: bool = True) -> str:
    """The audit database to read: ``--database-url``, else the service's setting."""
    from pydantic import ValidationError
    from sqlalchemy.engine import make_url

    from service.settings import ServiceSettings

    try:
        settings = (
            ServiceSettings()
            if database_url is None
            else ServiceSettings(database_url=database_url)
        )
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(map(str, problem["loc"]))
        fail(f"{where or 'settings'}: {problem['msg'].removeprefix('Value error, ')}")
    url = make_url(settings.audit_url)
    # Opening a missing SQLite file would create an empty store and export nothing.
    database = url.database or ""
    local_file = url.get_backend_name() == "sqlite" and not database.startswith("file:")
    if must_exist and local_file and not Path(database).is_file():
        fail(f"no audit database at {database} (see --database-url and DATABASE_URL)")
    return settings.audit_url


def _window_words(since: str | None, until: str | None) -> str:
    return (f" since {since}" if since else "") + (f" until {until}" if until else "")


def _print_report(rebuilt: Reconstruction, paths: dict[str, Path]) -> None:
    """Counts, the clients left out and why, and the next command."""
    say(
        f"exported {len(rebuilt.clients):,} clients and {len(rebuilt.sessions):,} sessions "
        f"from {rebuilt.assessments_read:,} assessments and {rebuilt.outcomes_read:,} "
        f"outcome reports: {paths['clients']}, {paths['sessions']}"
    )
    say("by termination: " + ", ".join(f"{k} {v:,}" for k, v in rebuilt.terminations().items()))
    left_out = rebuilt.left_out
    rules = ", ".join(f"{rule} {n:,}" for rule, n in rebuilt.report()["left_out_by_rule"].items())
    say(f"left out: {len(left_out):,} clients" + (f" ({rules})" if rules else ""))
    for entry in left_out[:_SHOWN_LEFT_OUT]:
        say(f"  {entry.client_id}: {entry.reason}")
    if len(left_out) > _SHOWN_LEFT_OUT:
        say(f"  ... and {len(left_out) - _SHOWN_LEFT_OUT:,} more")
    say(f"report: {paths['report']}")
    say(f"next: dropout-risk train --clients {paths['clients']} --sessions {paths['sessions']}")
