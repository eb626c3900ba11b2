"""Who may call and who read what: the API tokens and the read log, in the audit database.

Tokens live here rather than in a file so that every replica on the database sees a new or
revoked token at its next read (:class:`service.security.TokenBook` re-reads every few
seconds). Reads of personal data are logged here too, so that "who looked at this client's
report?" can be answered by an operator, and still after the client is erased.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update

from service.audit.database import AuditDatabase
from service.audit.tables import ApiTokenRow, ReadRow
from service.security import Scope, TokenEntry


@dataclass(frozen=True)
class StoredToken:
    """A token as ``token list`` shows it: its entry, last use and revocation."""

    entry: TokenEntry
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class StoredRead:
    """One read of personal data (see :class:`service.audit.tables.ReadRow`)."""

    read_id: str
    read_at: datetime
    caller: str
    what: str
    subject_id: str | None
    clinic_id: str | None
    client_key: str | None


class ApiTokenStore:
    """API tokens in the audit database (:attr:`AuditStore.api_tokens`)."""

    def __init__(self, database: AuditDatabase) -> None:
        self._database = database

    def save(self, entry: TokenEntry) -> None:
        """Store ``entry``, replacing any token of the same name (revoked or not)."""
        with self._database.writing("store the token") as session:
            session.execute(delete(ApiTokenRow).where(ApiTokenRow.name == entry.name))
            session.execute(
                insert(ApiTokenRow),
                [
                    {
                        "name": entry.name,
                        "sha256": entry.sha256,
                        "scopes": sorted(scope.value for scope in entry.scopes),
                        "clinics": sorted(entry.clinics),
                        "all_clinics": entry.all_clinics,
                        "created_at": entry.created_at or datetime.now(UTC),
                        "expires_at": entry.expires_at,
                    }
                ],
            )

    def revoke(self, name: str) -> bool:
        """Revoke the token ``name``; False when no unrevoked token has that name."""
        query = (
            update(ApiTokenRow)
            .where(ApiTokenRow.name == name, ApiTokenRow.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        with self._database.writing("revoke the token") as session:
            return session.execute(query).rowcount > 0

    def touch(self, name: str, at: datetime) -> None:
        """Record that the token ``name`` was used at ``at``."""
        query = update(ApiTokenRow).where(ApiTokenRow.name == name).values(last_used_at=at)
        with self._database.writing("record the token's use") as session:
            session.execute(query)

    def active(self) -> list[TokenEntry]:
        """The tokens not revoked (expired ones included: the caller is told it expired)."""
        return [t.entry for t in self.listing() if t.revoked_at is None]

    def listing(self) -> list[StoredToken]:
        """Every stored token, by name."""
        with self._database.reading("read the tokens") as session:
            rows = session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.name)).all()
            return [
                StoredToken(
                    entry=TokenEntry(
                        name=row.name,
                        sha256=row.sha256,
                        scopes=frozenset(Scope(s) for s in row.scopes),
                        created_at=row.created_at,
                        clinics=frozenset(row.clinics),
                        all_clinics=row.all_clinics,
                        expires_at=row.expires_at,
                    ),
                    last_used_at=row.last_used_at,
                    revoked_at=row.revoked_at,
                )
                for row in rows
            ]


class ReadLog:
    """Reads of personal data (:attr:`AuditStore.reads`)."""

    def __init__(self, database: AuditDatabase) -> None:
        self._database = database

    def record(
        self,
        *,
        caller: str,
        what: str,
        subject_id: str | None = None,
        clinic_id: str | None = None,
        client_id: str | None = None,
    ) -> None:
        """Log that ``caller`` read ``what`` (an assessment, a report, an export, ...)."""
        row = {
            "read_id": str(uuid.uuid4()),
            "read_at": datetime.now(UTC),
            "caller": caller,
            "what": what,
            "subject_id": subject_id,
            "clinic_id": clinic_id,
            "client_key": client_id,
        }
        self._database.insert(ReadRow, [row], what="the read")

    def entries(
        self,
        *,
        clinics: frozenset[str] | None = None,
        client_key: str | None = None,
        since: datetime | None = None,
    ) -> Iterator[StoredRead]:
        """Logged reads, oldest first, narrowed to clinics, a client (or tombstone) or a time."""
        query = select(ReadRow).order_by(ReadRow.read_at, ReadRow.read_id)
        if clinics is not None:
            query = query.where(ReadRow.clinic_id.in_(sorted(clinics)))
        if client_key is not None:
            query = query.where(ReadRow.client_key == client_key)
        if since is not None:
            query = query.where(ReadRow.read_at >= since)
        with self._database.reading("read the read log") as session:
            for row in session.scalars(query):
                yield StoredRead(
                    read_id=row.read_id,
                    read_at=row.read_at,
                    caller=row.caller,
                    what=row.what,
                    subject_id=row.subject_id,
                    clinic_id=row.clinic_id,
                    client_key=row.client_key,
                )
