"""The EHR JWT replay store: each token id (``jti``) seen, kept until its token expires.

Kept in the audit database, not in process memory, so that a token replayed to another
worker, or to another replica on the same database, is refused too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError

from service.audit.database import AuditDatabase
from service.audit.records import AuditUnavailableError
from service.audit.tables import TokenIdRow


class TokenIdStore:
    """Token ids of EHR JWTs (:attr:`AuditStore.token_ids`); a
    :class:`service.cds.auth.ReplayStore`."""

    def __init__(self, database: AuditDatabase) -> None:
        self._database = database

    def remember_token_id(self, *, iss: str, jti: str, expires_at: datetime) -> bool:
        """Store an EHR token's ``(iss, jti)`` until ``expires_at``; False if already stored.

        Expired ids are dropped in the same transaction, so the table holds only tokens
        that could still be presented.

        Raises:
            ValueError: ``expires_at`` is naive.
            AuditUnavailableError: The database could not be written.
        """
        if expires_at.utcoffset() is None:
            raise ValueError("expires_at must be timezone-aware")
        expired = delete(TokenIdRow).where(TokenIdRow.expires_at < datetime.now(UTC))
        try:
            with self._database.writing("record the token id") as session:
                session.execute(expired)
                session.execute(
                    insert(TokenIdRow), [{"iss": iss, "jti": jti, "expires_at": expires_at}]
                )
        except AuditUnavailableError as error:
            if isinstance(error.__cause__, IntegrityError):
                return False  # the key (iss, jti) is taken: this token was used before
            raise
        return True
