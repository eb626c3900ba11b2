"""``serve``: run the REST service, safely by default (no token made, no secret printed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli.console import fail, say

if TYPE_CHECKING:
    from service.model_cache import ModelCache
    from service.settings import ServiceSettings

#: Seconds a worker may take to answer uvicorn's health check before it is replaced.
WORKER_HEALTHCHECK_SECONDS = 60


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=16, help="Worker processes.")] = 1,
    allow_synthetic_model: Annotated[
        bool,
        typer.Option(
            "--allow-synthetic-model",
            help="Serve a champion trained on synthetic data (the demo, tests, benches).",
        ),
    ] = False,
) -> None:
    """Run the REST service (settings from the environment; docs at /docs).

    Creates no token and prints no secret: tokens come from `dropout-risk token create`
    (the database), the tokens file or DROPOUT_RISK_API_TOKENS. Refuses a champion trained
    on synthetic data unless --allow-synthetic-model is given."""
    import os

    # First, before anything loads XGBoost, whose OpenMP reads its settings when loaded (in
    # this process and the workers it starts); set explicitly, the environment wins.
    for name, value in scoring_environment(workers).items():
        os.environ.setdefault(name, value)

    import uvicorn

    from service.model_cache import ModelCache
    from service.observability import configure_logging
    from service.settings import ServiceSettings

    if allow_synthetic_model:
        # Through the environment: every worker reads its settings from it.
        os.environ["DROPOUT_RISK_ALLOW_SYNTHETIC_MODEL"] = "true"
    try:
        settings = ServiceSettings()
        settings.token_entries()  # a broken tokens file stops here, with its reason
    except ValueError as error:
        fail(f"invalid settings: {error}")
    log_config = configure_logging(settings.log_level)
    _migrate_the_audit_database(settings)
    cache = ModelCache(settings.model_cache_path)
    # A cached model serves at once (the workers load it); without --allow-synthetic-model
    # only one the cache knows was trained on real data.
    if not cache.holds(
        name=settings.model_name,
        alias=settings.model_alias,
        allow_synthetic=settings.allow_synthetic_model,
    ):
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


#: At most this many scoring threads per worker by default: a micro-batch of a few dozen
#: rows gains little from more (docs/speed.md).
DEFAULT_SCORING_THREADS_CAP = 2


def scoring_environment(workers: int) -> dict[str, str]:
    """The environment ``serve`` gives its workers unless it is set already.

    Each worker's boosters may use its share of the usable cores
    (:func:`models.cores.usable_cores`; at least one, at most
    :data:`DEFAULT_SCORING_THREADS_CAP`) for batches of a few requests, and OpenMP's idle
    threads sleep instead of spinning: spinning took the core that the HTTP stack and the
    commits needed (docs/speed.md).
    """
    from models.cores import usable_cores

    threads = max(1, min(DEFAULT_SCORING_THREADS_CAP, usable_cores() // workers))
    return {"DROPOUT_RISK_SCORING_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}


def _migrate_the_audit_database(settings: ServiceSettings) -> None:
    """Bring the audit database to the current schema once, before any worker starts.

    Exits 1 with one line when the database cannot be reached or migrated. Workers then
    find the schema current, and a worker uvicorn restarts during a database outage can
    start without it (answering 503 until it returns) instead of failing its start-up,
    which would make uvicorn stop every worker.
    """
    from service.audit import AuditStore, AuditUnavailableError
    from service.retention import purge

    try:
        with AuditStore.open(settings.audit_url) as store:
            if settings.retention_days is not None:
                erased = purge(store, settings.retention_days)
                days = settings.retention_days
                say(f"retention: {erased} client(s) older than {days} days erased")
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
        ModelKeeper(
            settings,
            alias=settings.model_alias,
            cache=cache,
            allow_synthetic=settings.allow_synthetic_model,
        ).start()
    except StartupRefusedError as error:
        fail(f"refusing to start: {error}")
