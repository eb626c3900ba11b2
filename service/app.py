"""The app factory: settings in, a FastAPI app out; nothing happens at import time.

``uvicorn --factory service.app:create_app`` (or ``dropout-risk serve``) builds one per
worker. Start-up opens (and migrates) the audit store, reads the API tokens, loads the
model the alias points at and starts following the alias. Without a champion yet the service
starts, answers 503 ``model_unavailable`` and keeps trying (``/ready`` says so); with the
registry unreachable (or the champion refused) it serves the cached model, degraded, or
refuses to start when none is cached.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext

import anyio.to_thread
from fastapi import FastAPI

from service.audit import AuditStore, AuditUnavailableError
from service.audit.engine import create_audit_engine
from service.batching import AssessmentBatcher
from service.cds.auth import EhrAuthenticator
from service.cds.hook import CardIssuer
from service.cds.keys import KeyRing
from service.deps import Runtime
from service.errors import install_error_handlers, internal_error_response
from service.headers import SecurityHeadersMiddleware
from service.heap import settled_heap
from service.lifecycle import ModelKeeper, StartupRefusedError
from service.limits import AuthFailureLimitMiddleware, BodySizeLimitMiddleware, FailureWindow
from service.model_cache import ModelCache
from service.observability import RequestContextMiddleware, ServiceMetrics, configure_logging
from service.recording import Recorder
from service.reports.links import LinkSigner
from service.retention import retention_task
from service.routes import (
    alerts,
    assessments,
    caseload,
    caseload_page,
    cds,
    fhir,
    health,
    metrics,
    models,
    monitoring,
    outcomes,
    reads,
    reports,
    smart,
)
from service.security import TokenBook
from service.settings import UNCONFIGURED_SAFETY_PROTOCOL, ServiceSettings
from service.smart.discovery import Discovery
from service.smart.launch import SmartLauncher
from service.watcher import MonitoringWatcher

_log = logging.getLogger(__name__)

DESCRIPTION = """\
Calibrated, explained risk of psychotherapy dropout and poor outcome from early-session
measures (alliance, session ratings, symptoms, attendance), with the factors behind each
score in a clinician's words and rule-based clinical signals beside it.

Every endpoint except `/health` and `/ready` needs `Authorization: Bearer <token>` with the
scope it names. Every error is `{"code", "message", "fields", "request_id"}`.
"""


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """Build the service; ``settings`` default to those of the environment."""
    settings = settings or ServiceSettings()
    metrics_ = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = _start(settings, metrics_)
        app.state.runtime = runtime
        # Sync endpoints run in this pool; scoring is CPU-bound, so a few threads suffice.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        try:
            with settled_heap() if settings.settle_heap else nullcontext():
                yield
        finally:
            if runtime.retention is not None:
                runtime.retention.stop()
            runtime.monitoring.stop()
            runtime.keeper.stop()
            runtime.audit.close()
            _log.info("stopped", extra={"event": "shutdown"})

    app = FastAPI(
        title="dropout-risk",
        version="1",
        summary="Early warning of psychotherapy dropout and poor outcome",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    routers = (
        assessments,
        alerts,
        caseload,
        caseload_page,
        outcomes,
        models,
        monitoring,
        fhir,
        cds,
        reports,
        smart,
        reads,
        health,
        metrics,
    )
    for module in routers:
        # The routers' routes go onto the app's own router (their paths, tags and responses
        # are set on each route): FastAPI >= 0.137 keeps an included router as a node that
        # every request walks and re-checks, about a tenth of the event loop's time per
        # assessment in a py-spy profile under load.
        for route in module.router.routes:
            app.router.routes.append(route)
    # The last added runs first: request ids and headers wrap every refusal and every 500
    # (an unhandled exception is answered by the request context, inside the headers), and
    # a refused client or body is answered before routing, token checks or parsing.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    failures = FailureWindow(settings.auth_failures_per_minute)
    app.add_middleware(
        AuthFailureLimitMiddleware,
        failures=failures,
        trusted_proxies=frozenset(settings.trusted_proxies),
    )
    app.add_middleware(
        RequestContextMiddleware, metrics=metrics_, internal_error=internal_error_response
    )
    unconfined = (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
    app.add_middleware(SecurityHeadersMiddleware, unconfined_paths=unconfined)
    return app


def _start(settings: ServiceSettings, metrics_: ServiceMetrics) -> Runtime:
    """Open the audit store, read the tokens, load the model and start following the alias."""
    configure_logging(settings.log_level)
    # httpx logs each request's URL at INFO; CDS Hooks' FHIR queries name the patient.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    audit = _open_audit_store(settings.audit_url)
    # The database's tokens are re-read every few seconds: a token created or revoked with
    # `dropout-risk token create/revoke` reaches every replica without a restart.
    tokens = TokenBook(
        settings.token_entries(),
        source=audit.api_tokens.active,
        refresh_seconds=settings.token_refresh_seconds,
        on_use=audit.api_tokens.touch,
    )
    if settings.safety_protocol == UNCONFIGURED_SAFETY_PROTOCOL:
        _log.warning(
            "no safety protocol is configured: safety alerts show a generic instruction; "
            "set DROPOUT_RISK_SAFETY_PROTOCOL to the service's own risk protocol (text or URL)",
            extra={"event": "no_safety_protocol"},
        )
    if not len(tokens):
        _log.warning(
            "no API tokens are configured: every protected endpoint will answer 401; "
            "create one with `dropout-risk token create`",
            extra={"event": "no_tokens"},
        )

    keeper = ModelKeeper(
        settings,
        alias=settings.model_alias,
        cache=ModelCache(settings.model_cache_path),
        on_change=lambda _: metrics_.model_switches.inc(),
        allow_synthetic=settings.allow_synthetic_model,
        scoring_threads=settings.scoring_threads,
    )
    try:
        served = keeper.start()
    except StartupRefusedError as error:
        # One line for the operator; uvicorn then logs the traceback and exits non-zero.
        _log.critical(f"refusing to start: {error}", extra={"event": "startup_refused"})
        audit.close()
        raise
    if served is None:
        _log.error(
            "no model loaded at start-up; will keep trying",
            extra={"event": "model_unavailable", "error": keeper.status.error},
        )
    else:
        _log.info("model loaded", extra={"event": "model_loaded", "model_version": served.version})
    keeper.start_polling(settings.registry_poll_seconds)
    ehr_auth = EhrAuthenticator(
        KeyRing(settings.cds_issuers, timeout=settings.cds_fhir_timeout_seconds),
        audit.token_ids,  # the replay store: shared by every worker on this database
        max_lifetime_seconds=settings.cds_token_max_lifetime_seconds,
    )
    watcher = MonitoringWatcher(settings=settings, audit=audit, keeper=keeper, metrics=metrics_)
    watcher.start()
    recorder = Recorder(audit=audit, metrics=metrics_, factors=settings.factors)
    links = LinkSigner(
        settings.link_secret(), lifetime_seconds=settings.report_link_lifetime_seconds
    )
    smart_launcher = SmartLauncher(
        clients=settings.smart_clients,
        launches=audit.smart_launches,
        discovery=Discovery(
            timeout=settings.cds_fhir_timeout_seconds,
            allow_private=settings.allow_private_addresses,
        ),
        # Its own key ring: the EHRs' id_token keys, found through their discovery.
        keys=KeyRing([], timeout=settings.cds_fhir_timeout_seconds),
        redirect_uri=settings.smart_redirect_uri,
        launch_seconds=settings.smart_launch_seconds,
    )
    retention = None
    if settings.retention_days is not None:
        retention = retention_task(audit, settings.retention_days)
        retention.start()
    return Runtime(
        retention=retention,
        settings=settings,
        keeper=keeper,
        audit=audit,
        recorder=recorder,
        batcher=AssessmentBatcher(
            recorder=recorder,
            metrics=metrics_,
            max_batch=settings.micro_batch_max,
            max_wait_seconds=settings.micro_batch_wait_ms / 1000,
        ),
        monitoring=watcher,
        tokens=tokens,
        metrics=metrics_,
        ehr_auth=ehr_auth,
        links=links,
        card_issuer=CardIssuer(
            recorder=recorder,
            cards=audit.cards,
            metrics=metrics_,
            settings=settings,
            links=links,
        ),
        smart=smart_launcher,
    )


def _open_audit_store(url: str) -> AuditStore:
    """Open (and migrate) the audit store; with the database down, start without it.

    A worker that starts during an outage (uvicorn replaces one that died) answers 503
    ``audit_unavailable`` until the database returns, as a running worker does, rather than
    failing its start-up: uvicorn would then stop every worker. ``dropout-risk serve`` has
    migrated the database before starting any worker, so the schema is there when it returns.
    """
    try:
        return AuditStore.open(url)
    except AuditUnavailableError as error:
        _log.error(
            "audit database unavailable at start-up; answering 503 until it returns",
            extra={"event": "audit_unavailable", "error": str(error)},
        )
        return AuditStore(engine=create_audit_engine(url))
