"""Errors shared by routes, and how the OpenAPI document describes them (all :class:`ErrorOut`)."""

from __future__ import annotations

import logging
from typing import Any

from service.audit import AuditUnavailableError
from service.deps import Runtime
from service.errors import ApiError, ErrorOut

_log = logging.getLogger(__name__)

_DESCRIPTIONS = {
    401: "No token, or an unknown one (`unauthorized`).",
    403: "The token lacks this endpoint's scope (`forbidden`).",
    404: "Nothing stored under this id (`not_found`).",
    422: "The request breaks the contract; every failing field is listed (`validation_error`).",
    503: "No model loaded yet (`model_unavailable`), or the audit store did not commit "
    "(`audit_unavailable`): nothing was acknowledged, retry later.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses."""
    return {s: {"model": ErrorOut, "description": _DESCRIPTIONS[s]} for s in statuses}


def audit_unavailable(runtime: Runtime, error: AuditUnavailableError) -> ApiError:
    """The 503 for a write the audit store did not commit (counted and logged)."""
    runtime.metrics.audit_failures.inc()
    # The store's message names the failure, never the statement's parameters.
    _log.error(str(error), extra={"event": "audit_unavailable"})
    return ApiError(
        503,
        "audit_unavailable",
        "the audit store did not commit, so nothing was acknowledged; retry later",
        headers={"Retry-After": "5"},
    )
