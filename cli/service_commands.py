"""``serve`` and ``token``: run the REST service and manage its API tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli.console import fail, say

if TYPE_CHECKING:
    from service.model_cache import ModelCache
    from service.settings import ServiceSettings

token_app = typer.Typer(
    help="API tokens of the service (stored as hashes; a token is shown once).",
    no_args_is_help=True,
)


#: Seconds a worker may take to answer uvicorn's health check before it is replaced.
WORKER_HEALTHCHECK_SECONDS = 60


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=16, help="Worker processes.")] = 1,
) -> None:
    """Run the REST service (settings from the environment; docs at /docs)."""
    import uvicorn

    from service.model_cache import ModelCache
    from service.observability import configure_logging
    from service.settings import ServiceSettings

    try:
        settings = ServiceSettings()
        settings.token_entries()  # a broken tokens file stops here, with its reason
    except ValueError as error:
        fail(f"invalid settings: {error}")
    log_config = configure_logging(settings.log_level)
    _migrate_the_audit_database(settings)
    cache = ModelCache(settings.model_cache_path)
    if not cache.holds(name=settings.model_name, alias=settings.model_alias):
        _check_the_registry(settings, cache=cache)
    say(f"serving on http://{host}:{port} (API docs: http://{host}:{port}/docs)")
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config,
        access_log=False,  # ours (service.access) names routes, never paths or bodies
        timeout_graceful_shutdown=10,
        # uvicorn's supervisor kills a worker whose health-check thread has not answered in
        # this time (default 5 s). A worker holding the GIL (importing MLflow for its first
        # registry check, scoring) on a saturated machine can miss 5 s, and every kill
        # drops the requests that worker had in flight.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )


def _migrate_the_audit_database(settings: ServiceSettings) -> None:
    """Bring the audit database to the current schema once, before any worker starts.

    Exits 1 with one line when the database cannot be reached or migrated. Workers then
    find the schema current, and a worker uvicorn restarts during a database outage can
    start without it (answering 503 until it returns) instead of failing its start-up,
    which would make uvicorn stop every worker.
    """
    from service.audit import AuditStore, AuditUnavailableError

    try:
        AuditStore.open(settings.audit_url).close()
    except (AuditUnavailableError, ValueError) as error:
        fail(f"refusing to start: {error}")


def _check_the_registry(settings: ServiceSettings, *, cache: ModelCache) -> None:
    """Load the alias's version now, into the cache, or exit 1 with one line saying why.

    Each worker would refuse on its own, but uvicorn's supervisor of several workers then
    exits 0 with the reason buried in a traceback. Only needed without a cached model (a
    worker serves that at once): loading here costs MLflow's and XGBoost's imports, seconds
    before the workers start, and leaves the model cached for them.
    """
    from service.lifecycle import ModelKeeper, StartupRefusedError

    try:
        ModelKeeper(settings, alias=settings.model_alias, cache=cache).start()
    except StartupRefusedError as error:
        fail(f"refusing to start: {error}")


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
    name: Annotated[
        str,
        typer.Option(help="Who uses the token; an older token of this name is replaced."),
    ] = "default",
) -> None:
    """Create a token, store its hash in the tokens file and print the token once."""
    from service.security import Scope, new_token
    from service.settings import ServiceSettings, read_tokens_file, write_tokens_file

    known = {scope.value: scope for scope in Scope}
    unknown = [scope for scope in scopes if scope not in known]
    if unknown:
        fail(f"unknown scope {', '.join(unknown)}; choose from {', '.join(known)}")
    settings = ServiceSettings()
    path = settings.token_path
    try:
        entries = [e for e in read_tokens_file(path) if e.name != name]
        token, entry = new_token(name=name, scopes={known[scope] for scope in scopes})
    except ValueError as error:
        fail(str(error))
    write_tokens_file(path, [*entries, entry])
    granted = ", ".join(sorted(set(scopes)))
    typer.echo(f"token {name!r} ({granted}) stored as a hash in {path}", err=True)
    typer.echo("this is the only time it is shown:", err=True)
    say(token)


@token_app.command("list")
def list_tokens() -> None:
    """List the configured tokens: names, scopes, creation times (never the tokens)."""
    from service.settings import ServiceSettings

    try:
        entries = ServiceSettings().token_entries()
    except ValueError as error:
        fail(str(error))
    for entry in entries:
        scopes = ", ".join(sorted(scope.value for scope in entry.scopes))
        say(f"{entry.name}\t{scopes}\t{entry.created_at or ''}")


@token_app.command("revoke")
def revoke_token(name: Annotated[str, typer.Argument(help="Name of the token.")]) -> None:
    """Remove a token from the tokens file (the service reads tokens at start-up)."""
    from service.settings import ServiceSettings, read_tokens_file, write_tokens_file

    path = ServiceSettings().token_path
    try:
        entries = read_tokens_file(path)
    except ValueError as error:
        fail(str(error))
    kept = [entry for entry in entries if entry.name != name]
    if len(kept) == len(entries):
        fail(f"no token named {name!r} in {path}")
    write_tokens_file(path, kept)
    say(f"revoked {name!r}; restart the service for it to take effect")
