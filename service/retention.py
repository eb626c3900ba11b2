"""Retention: clients whose newest record is older than ``DROPOUT_RISK_RETENTION_DAYS`` are
erased, as ``dropout-risk erase`` erases one, leaving tombstones.

Runs hourly in each service process (every replica may; erasing what another already
erased finds nothing and leaves no second tombstone) and once at ``dropout-risk serve``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from service.audit import AuditStore
from service.periodic import PeriodicTask

_log = logging.getLogger(__name__)

#: Seconds between two purges: records are kept for days, an hour more does not matter.
PURGE_EVERY_SECONDS = 3600.0


def purge(audit: AuditStore, retention_days: int) -> int:
    """Erase every client older than ``retention_days``; return how many were erased."""
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    stones = audit.eraser.purge_older_than(cutoff)
    if stones:
        _log.info(
            "clients past the retention period erased",
            extra={"event": "retention_purge", "clients": len(stones)},
        )
    return len(stones)


def retention_task(audit: AuditStore, retention_days: int) -> PeriodicTask:
    """The hourly purge (start it; stop it at shutdown)."""
    return PeriodicTask(
        "retention-purge",
        lambda: purge(audit, retention_days),
        interval_seconds=PURGE_EVERY_SECONDS,
        on_error=lambda error: _log.warning(
            "the retention purge failed; it runs again within the hour",
            extra={"event": "retention_failed", "error": type(error).__name__},
        ),
    )
