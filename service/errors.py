"""Every error the API returns has one JSON shape: a stable code, a message, the failing fields.

``{"code": "validation_error", "message": "...", "fields": [{"path": "sessions[1].srs",
"message": "...", "type": "less_than_equal"}], "request_id": "..."}`` (api.md). Handlers
here turn FastAPI's, Starlette's and our own exceptions into it; nothing else answers errors.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.observability import current_request_id

_log = logging.getLogger(__name__)

_CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class FieldError(BaseModel):
    """One failing field of a request."""

    path: str = Field(description="Where in the body, e.g. ``sessions[1].srs``.")
    message: str
    type: str = Field(description="Stable name of the rule broken, e.g. ``less_than_equal``.")


class ErrorOut(BaseModel):
    """The body of every error response."""

    code: str = Field(description="Stable, machine-readable: e.g. ``validation_error``.")
    message: str = Field(description="What went wrong, for a person.")
    fields: list[FieldError] = Field(default_factory=list)
    request_id: str | None = Field(default=None, description="Quote it when reporting.")


class ApiError(Exception):
    """An error to answer with :class:`ErrorOut` and ``status``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = list(fields)
        self.headers = headers


def field_path(location: Sequence[Any]) -> str:
    """``("body", "sessions", 1, "srs")`` as ``sessions[1].srs`` (the body itself: ``body``)."""
    parts = list(location)
    if parts and parts[0] in ("body", "query", "path", "header"):
        origin, parts = parts[0], parts[1:]
    else:
        origin = "body"
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or origin


def field_errors(errors: Sequence[dict[str, Any]]) -> list[FieldError]:
    """Pydantic's error list as :class:`FieldError` items (input values are not echoed)."""
    return [
        FieldError(
            # A JSON syntax error's location is a character offset, not an array index.
            path="body" if e["type"] == "json_invalid" else field_path(e.get("loc", ())),
            message=e["msg"],
            type=e["type"],
        )
        for e in errors
    ]


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    fields: Sequence[FieldError] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The JSON response of an error."""
    body = ErrorOut(
        code=code, message=message, fields=list(fields), request_id=current_request_id()
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def internal_error_response() -> JSONResponse:
    """The answer to an unexpected error: nothing of it, whose message may quote input."""
    return error_response(500, "internal_error", "an unexpected error occurred")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` in the :class:`ErrorOut` shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        return error_response(
            error.status, error.code, error.message, fields=error.fields, headers=error.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        fields = field_errors(error.errors())
        return error_response(
            422,
            "validation_error",
            f"the request breaks the contract in {len(fields)} place(s); see fields",
            fields=fields,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _CODES_BY_STATUS.get(error.status_code, "http_error")
        return error_response(
            error.status_code, code, str(error.detail), headers=getattr(error, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
        # The message may quote request data, so only the type and the frames are logged.
        _log.error(
            "unhandled error",
            extra={"event": "unhandled_error", "error_type": type(error).__name__},
            exc_info=(type(error), None, error.__traceback__),
        )
        return internal_error_response()
