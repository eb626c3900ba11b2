"""Logs and metrics: one JSON line per event with the request id, and Prometheus counters.

No personal data reaches the application log (api.md): access lines name the route's
template (``/v1/risk-assessments/{assessment_id}``), never a body, query or identifier, and
exceptions are logged by type and stack frames only, because their messages may quote input.
Personal data goes to the audit store alone.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import time
import traceback
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitoring.alerts import ALERT_CODES

REQUEST_ID_HEADER = "X-Request-ID"
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_ACCEPTED_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
# Attributes every LogRecord has; anything else was passed in ``extra`` and is logged.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def current_request_id() -> str | None:
    """The id of the request being handled (None outside a request)."""
    return _request_id.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and key != "request_id":
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            kind, _message, frames = record.exc_info
            # Type and frames only: an exception's message may quote the request's data.
            entry["error_type"] = kind.__name__
            entry["stack"] = "".join(traceback.format_tb(frames)).rstrip()
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> dict[str, Any]:
    """Route our and uvicorn's loggers through :class:`JsonFormatter`; return the config.

    The returned dict is also what ``uvicorn.run(log_config=...)`` takes, so worker
    processes log the same way.
    """
    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            **{
                name: {"handlers": ["stderr"], "level": level, "propagate": False}
                for name in ("service", "uvicorn", "uvicorn.error", "mlflow", "alembic")
            },
            # Uvicorn's access lines carry paths and client addresses; service.access
            # replaces them with route templates.
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        },
    }
    logging.config.dictConfig(config)
    return config


class ServiceMetrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "dropout_risk_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dropout_risk_http_request_duration_seconds",
            "Time from request to response, by route template.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.assessments = Counter(
            "dropout_risk_assessments",
            "Assessments served, by outcome and risk level.",
            ["outcome", "risk_level"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "dropout_risk_assessment_batch_size",
            "Single assessments scored and committed together by the micro-batcher.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
        self.alerts_raised = Counter(
            "dropout_risk_alerts_raised",
            "Alerts raised for clinicians, by kind (a supervisor's alert burden).",
            ["kind"],
            registry=self.registry,
        )
        self.audit_failures = Counter(
            "dropout_risk_audit_write_failures",
            "Audit writes that failed (their requests were answered 503).",
            registry=self.registry,
        )
        self.model_version = Gauge(
            "dropout_risk_model_version",
            "Registered version of the model serving (0 before one has loaded).",
            registry=self.registry,
        )
        self.model_switches = Counter(
            "dropout_risk_model_switches",
            "Times the service switched to another model version.",
            registry=self.registry,
        )
        self.registry_reachable = Gauge(
            "dropout_risk_registry_reachable",
            "1 when the last check of the model registry succeeded, else 0.",
            registry=self.registry,
        )
        self.monitoring_alerts = Gauge(
            "dropout_risk_monitoring_alerts",
            "Alerts raised by the last monitoring check, by kind (input_drift, score_drift, "
            "discrimination, calibration); see GET /v1/monitoring.",
            ["code"],
            registry=self.registry,
        )
        for code in ALERT_CODES:
            self.monitoring_alerts.labels(code)  # every kind shows, at 0, before any check
        self.monitoring_checked = Gauge(
            "dropout_risk_monitoring_last_check_timestamp_seconds",
            "When the last monitoring check finished (Unix time; 0: none yet).",
            registry=self.registry,
        )


class RequestContextMiddleware:
    """Gives each request an id, times it, logs one access line and counts it.

    It also answers what nothing else did: Starlette's last-resort handler of an unhandled
    exception sits outside every middleware, so its 500 would lack the request id and the
    security headers, and uvicorn would log the exception's message, which may quote input.
    Here the exception is logged once (type and frames), answered with ``internal_error()``
    (a response in the API's error shape, made in the request's context) and counted as a
    500. Add this middleware inside :class:`~service.headers.SecurityHeadersMiddleware`.

    A plain ASGI middleware (not ``BaseHTTPMiddleware``): it adds tens of microseconds,
    not a task and a stream per request.
    """

    def __init__(
        self, app: ASGIApp, *, metrics: ServiceMetrics, internal_error: Callable[[], ASGIApp]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.internal_error = internal_error
        self._log = logging.getLogger("service.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status = 500
        answered = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            _log_unhandled(error, request_id=request_id)
            if answered:  # too late for an error response (the server cuts the connection)
                status = 500  # counted as failed, whatever status line went out
            else:
                await self.internal_error()(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route).observe(elapsed)
            self._log.info(
                "request",
                extra={
                    "event": "request",
                    "request_id": request_id,
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "caller": scope.get("state", {}).get("caller"),
                },
            )
            _request_id.reset(token)


def _log_unhandled(error: Exception, *, request_id: str) -> None:
    """Log an unexpected exception by type and frames: its message may quote the request."""
    logging.getLogger("service.errors").error(
        "unhandled error",
        extra={"event": "unhandled_error", "request_id": request_id},
        exc_info=(type(error), None, error.__traceback__),
    )


def _incoming_request_id(scope: Scope) -> str | None:
    """The caller's ``X-Request-ID`` when it is a sane token (else we make our own)."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _ACCEPTED_REQUEST_ID.match(text) else None
    return None
