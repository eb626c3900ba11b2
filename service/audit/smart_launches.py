"""The SMART launches under way: each ``state`` with its issuer and PKCE verifier.

Kept in the audit database, not in process memory, so that the callback of a launch finds
it whichever worker (or replica on the same database) answers. A launch is read once: the
callback deletes its row as it reads it, so a replayed ``state`` finds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete

from service.audit.database import AuditDatabase
from service.audit.tables import SmartLaunchRow


@dataclass(frozen=True)
class PendingLaunch:
    """A launch waiting for its callback."""

    iss: str
    code_verifier: str


class SmartLaunchStore:
    """Launches under way (:attr:`AuditStore.smart_launches`)."""

    def __init__(self, database: AuditDatabase) -> None:
        self._database = database

    def begin(self, *, state: str, iss: str, code_verifier: str, expires_at: datetime) -> None:
        """Store a launch until ``expires_at``; expired ones are dropped at the same time.

        Raises:
            ValueError: ``expires_at`` is naive.
            AuditUnavailableError: The launch was not stored.
        """
        if expires_at.utcoffset() is None:
            raise ValueError("expires_at must be timezone-aware")
        expired = delete(SmartLaunchRow).where(SmartLaunchRow.expires_at < datetime.now(UTC))
        with self._database.writing("store the launch") as session:
            session.execute(expired)
            session.add(
                SmartLaunchRow(
                    state=state, iss=iss, code_verifier=code_verifier, expires_at=expires_at
                )
            )

    def take(self, state: str) -> PendingLaunch | None:
        """The unexpired launch of ``state``, removed as it is read; None when there is none
        (never stored, expired, or already taken: a replay).

        Raises:
            AuditUnavailableError: The database could not be written.
        """
        # DELETE ... RETURNING: of two callbacks racing with one state, only one gets a row.
        taken = (
            delete(SmartLaunchRow)
            .where(SmartLaunchRow.state == state)
            .returning(SmartLaunchRow.iss, SmartLaunchRow.code_verifier, SmartLaunchRow.expires_at)
        )
        with self._database.writing("take the launch") as session:
            row = session.execute(taken).first()
        if row is None or row.expires_at < datetime.now(UTC):
            return None
        return PendingLaunch(iss=row.iss, code_verifier=row.code_verifier)
