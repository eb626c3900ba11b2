"""The read log: who read which client's assessment, report or export, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from service.audit import AuditUnavailableError
from service.deps import Admin, AuditDep, MetricsDep
from service.errors import ApiError, FieldError
from service.recording import audit_unavailable
from service.routes._responses import error_responses

router = APIRouter(prefix="/v1/audit", tags=["audit"])

#: Entries answered at most; narrow by client or time for more.
MAX_READS = 10_000


class ReadOut(BaseModel):
    """One read of personal data."""

    read_id: str
    read_at: datetime
    caller: str
    what: str
    subject_id: str | None
    clinic_id: str | None
    client_key: str | None


class ReadsOut(BaseModel):
    """Reads, oldest first."""

    reads: list[ReadOut]


@router.get("/reads", responses=error_responses(401, 403, 422, 429, 503), summary="Read log")
def read_log(
    caller: Admin,
    audit: AuditDep,
    metrics: MetricsDep,
    client_id: Annotated[
        str | None,
        Query(max_length=128, description="A client's id, or an erased client's tombstone id."),
    ] = None,
    since: Annotated[datetime | None, Query(description="From (ISO 8601 with offset).")] = None,
) -> ReadsOut:
    """Who (token, EHR issuer and tenant, or signed link) read which assessment, report or
    export, and when; of the token's clinics. Scope `admin`."""
    if since is not None and since.utcoffset() is None:
        raise ApiError(
            422,
            "validation_error",
            "since needs a UTC offset",
            fields=[FieldError(path="since", message="needs a UTC offset", type="timezone")],
        )
    try:
        entries = []
        for entry in audit.reads.entries(
            clinics=caller.clinics, client_key=client_id, since=since
        ):
            entries.append(ReadOut(**vars(entry)))
            if len(entries) >= MAX_READS:
                break
    except AuditUnavailableError as error:
        raise audit_unavailable(metrics, error) from error
    return ReadsOut(reads=entries)
