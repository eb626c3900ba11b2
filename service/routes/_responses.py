"""How routes document their error responses in the OpenAPI document (all :class:`ErrorOut`)."""

from __future__ import annotations

from typing import Any

from service.errors import ErrorOut

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
