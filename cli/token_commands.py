"""``token``: API tokens of the service, kept as hashes in the audit database.

The database is shared by every replica and re-read by each every few seconds, so a token
created or revoked here takes effect on running services without a restart. A token names
the clinics whose records it may write and read (``--clinic``), or all of them for an
operator (``--all-clinics``); it may expire (``--expires-in``). Tokens of the older tokens
file and of ``DROPOUT_RISK_API_TOKENS`` are still read (and listed, and revocable from the
file), but new ones go to the database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from cli.audit_commands import DatabaseUrlOption, audit_url_option
from cli.console import fail, say

token_app = typer.Typer(
    help="API tokens of the service (stored as hashes; a token is shown once).",
    no_args_is_help=True,
)


def _open_store(database_url: str | None):
    from service.audit import AuditStore, AuditUnavailableError

    try:
        return AuditStore.open(audit_url_option(database_url, must_exist=False))
    except (AuditUnavailableError, ValueError) as error:
        fail(str(error))


@token_app.command("create")
def create_token(
    scopes: Annotated[
        list[str],
        typer.Option(
            "--scope",
            help="A scope to grant (repeat): risk:write, outcomes:write, models:read, "
            "audit:read, metrics:read, admin.",
            show_default=False,
        ),
    ],
    clinics: Annotated[
        list[str] | None,
        typer.Option(
            "--clinic",
            help="A clinic whose records the token may write and read (repeat).",
            show_default=False,
        ),
    ] = None,
    all_clinics: Annotated[
        bool, typer.Option("--all-clinics", help="Every clinic: an operator's token.")
    ] = False,
    name: Annotated[
        str,
        typer.Option(help="Who uses the token; an older token of this name is replaced."),
    ] = "default",
    expires_in: Annotated[
        int | None,
        typer.Option("--expires-in", min=1, max=3650, help="Days until the token expires."),
    ] = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Create a token for the named clinics (or all), store its hash and print it once."""
    from service.audit import AuditUnavailableError
    from service.security import Scope, new_token

    known = {scope.value: scope for scope in Scope}
    unknown = [scope for scope in scopes if scope not in known]
    if unknown:
        fail(f"unknown scope {', '.join(unknown)}; choose from {', '.join(known)}")
    if bool(clinics) == all_clinics:
        fail("name the token's clinics with --clinic C (repeat), or give --all-clinics")
    expires_at = None
    if expires_in is not None:
        expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=expires_in)
    try:
        token, entry = new_token(
            name=name,
            scopes={known[scope] for scope in scopes},
            clinics=clinics or (),
            all_clinics=all_clinics,
            expires_at=expires_at,
        )
    except ValueError as error:
        fail(str(error))
    with _open_store(database_url) as store:
        try:
            store.api_tokens.save(entry)
        except AuditUnavailableError as error:
            fail(str(error))
    granted = ", ".join(sorted(set(scopes)))
    where = "all clinics" if all_clinics else "clinic(s) " + ", ".join(sorted(set(clinics or ())))
    until = f", expires {expires_at.isoformat()}" if expires_at else ""
    typer.echo(f"token {name!r} ({granted}; {where}{until}) stored as a hash", err=True)
    typer.echo("this is the only time it is shown:", err=True)
    say(token)


@token_app.command("list")
def list_tokens(database_url: DatabaseUrlOption = None) -> None:
    """List the tokens: names, scopes, clinics, creation, expiry, last use, revocation
    (never the tokens)."""
    from service.audit import AuditUnavailableError
    from service.settings import ServiceSettings

    try:
        fixed = ServiceSettings().token_entries()
    except ValueError as error:
        fail(str(error))
    with _open_store(database_url) as store:
        try:
            stored = store.api_tokens.listing()
        except AuditUnavailableError as error:
            fail(str(error))
    for entry in fixed:
        say(_line(entry, last_used=None, revoked=None, source="file"))
    for token in stored:
        say(_line(token.entry, last_used=token.last_used_at, revoked=token.revoked_at))


def _line(entry, *, last_used, revoked, source="database") -> str:
    scopes = ", ".join(sorted(scope.value for scope in entry.scopes))
    if entry.all_clinics:
        clinics = "all clinics"
    elif entry.clinics:
        clinics = ", ".join(sorted(entry.clinics))
    else:
        clinics = "no clinic: reissue it"
    state = "revoked " + revoked.isoformat() if revoked else ("expired" if entry.expired() else "")
    return "\t".join(
        [
            entry.name,
            scopes,
            clinics,
            f"created {entry.created_at or '?'}",
            f"expires {entry.expires_at or 'never'}",
            f"last used {last_used or 'never'}",
            state or "active",
            source,
        ]
    )


@token_app.command("revoke")
def revoke_token(
    name: Annotated[str, typer.Argument(help="Name of the token.")],
    database_url: DatabaseUrlOption = None,
) -> None:
    """Revoke a token: running services refuse it within seconds, without a restart."""
    from service.audit import AuditUnavailableError
    from service.settings import ServiceSettings, read_tokens_file, write_tokens_file

    path = ServiceSettings().token_path
    try:
        entries = read_tokens_file(path)
    except ValueError as error:
        fail(str(error))
    kept = [entry for entry in entries if entry.name != name]
    if len(kept) != len(entries):
        write_tokens_file(path, kept)  # a file token: read at start-up only
    with _open_store(database_url) as store:
        try:
            revoked = store.api_tokens.revoke(name)
        except AuditUnavailableError as error:
            fail(str(error))
    if not revoked and len(kept) == len(entries):
        fail(f"no token named {name!r}")
    if len(kept) != len(entries) and not revoked:
        say(f"revoked {name!r} from {path}; restart the service for a file token")
        return
    say(f"revoked {name!r}; running services refuse it within seconds")
