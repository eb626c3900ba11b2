"""How routes document their error responses in the OpenAPI document (all :class:`ErrorOut`)."""

from __future__ import annotations

from typing import Any

from service.errors import ErrorOut

_DESCRIPTIONS = {
    400: "The body could not be read as JSON: not UTF-8, or nested too deeply (`bad_request`).",
    401: "No token, or an unknown one (`unauthorized`).",
    403: "The token lacks this endpoint's scope (`forbidden`).",
    404: "Nothing stored under this id (`not_found`).",
    409: "The alert is past this step already (`conflict`): a resolved or dismissed alert "
    "is final.",
    413: "The body is larger than the service accepts (`payload_too_large`); see "
    "`max_body_bytes`.",
    422: "The request breaks the contract; every failing field is listed (`validation_error`).",
    429: "Too many failed authentications from this address in the last minute "
    "(`too_many_requests`); wait as long as `Retry-After` says.",
    503: "No model loaded yet (`model_unavailable`), or the audit store did not commit "
    "(`audit_unavailable`): nothing was acknowledged, retry later.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses."""
    return {s: {"model": ErrorOut, "description": _DESCRIPTIONS[s]} for s in statuses}
