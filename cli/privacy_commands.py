"""``erase`` and ``reads``: a client's personal data removed on request, and who read what.

``erase`` deletes one clinic's client from every table of the audit store that holds
personal data (:data:`service.audit.erasure.PERSONAL_TABLES`) in one transaction, keeps a
tombstone (who, when, why; no personal data) and re-keys the read log's entries about the
client to the tombstone's id. ``reads`` prints the read log.
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from cli.audit_commands import DatabaseUrlOption, SinceOption, audit_url_option, moment_option
from cli.console import fail, say


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def erase(
    client: Annotated[str, typer.Option("--client", help="The client's id in its clinic.")],
    clinic: Annotated[str, typer.Option("--clinic", help="The client's clinic.")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why (e.g. the client's request, its reference).")
    ],
    database_url: DatabaseUrlOption = None,
) -> None:
    """Remove one client's personal data from every table, keeping a tombstone."""
    from service.audit import AuditStore, AuditUnavailableError
    from service.audit.erasure import PERSONAL_TABLES

    if not reason.strip():
        fail("--reason must say why the client is erased")
    url = audit_url_option(database_url)
    try:
        with AuditStore.open(url) as store:
            stone = store.eraser.erase(
                clinic_id=clinic, client_id=client, erased_by=_operator(), reason=reason
            )
    except LookupError as error:
        fail(str(error.args[0]))
    except (AuditUnavailableError, ValueError) as error:
        fail(str(error))
    say(
        f"erased: {stone.rows_removed} rows from {', '.join(PERSONAL_TABLES)}; "
        f"tombstone {stone.tombstone_id} (the read log's entries about the client now name it)"
    )


def reads(
    client: Annotated[
        str | None,
        typer.Option("--client", help="A client's id, or an erased client's tombstone id."),
    ] = None,
    since: SinceOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Print the read log: when, who, what, which record, which clinic and client."""
    from service.audit import AuditStore, AuditUnavailableError

    url = audit_url_option(database_url)
    try:
        with AuditStore.open(url) as store:
            for entry in store.reads.entries(
                client_key=client, since=moment_option(since, option="--since")
            ):
                say(
                    "\t".join(
                        [
                            entry.read_at.isoformat(),
                            entry.caller,
                            entry.what,
                            entry.subject_id or "-",
                            entry.clinic_id or "-",
                            entry.client_key or "-",
                        ]
                    )
                )
    except (AuditUnavailableError, ValueError) as error:
        fail(str(error))
