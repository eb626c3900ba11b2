"""The CDS Hooks part of the audit store: cards issued, clinicians' feedback, EHR token ids.

A card is recorded with the assessment it shows, so feedback (which names only the card)
is stored with that assessment: acceptance and override rates can then be reported per
service, per model version and per window. The token ids are the JWT replay store: kept
here, not in process memory, so that a token replayed to another worker is refused too.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from service.audit.records import (
    CARD_OUTCOMES,
    NewFeedback,
    StoredCard,
    StoredFeedback,
    UnknownCardError,
    unavailable,
    uuid_text,
)
from service.audit.tables import CardRow, FeedbackRow, TokenIdRow

_STREAM_BATCH = 500


class CdsRecords:
    """Mixed into :class:`~service.audit.store.AuditStore`, whose sessions it uses."""

    _reading: sessionmaker[Session]
    _writing: sessionmaker[Session]
    _write_turn: threading.Lock | AbstractContextManager[Any]

    def record_card(
        self, *, card_uuid: str, assessment_id: str, service_id: str, iss: str, indicator: str
    ) -> StoredCard:
        """Commit a card about to be sent; only then may it be sent.

        Args:
            card_uuid: The card's ``uuid`` (a UUID).
            assessment_id: The stored assessment the card shows.
            service_id: The CDS service issuing it.
            iss: The EHR it goes to.
            indicator: ``info``, ``warning`` or ``critical``.

        Raises:
            ValueError: An id is not a UUID.
            AuditUnavailableError: The card was not committed.
        """
        record = StoredCard(
            card_uuid=uuid_text(card_uuid, what="card_uuid"),
            created_at=datetime.now(UTC),
            service_id=service_id,
            assessment_id=uuid_text(assessment_id),
            iss=iss,
            indicator=indicator,
        )
        try:
            with self._write_turn, self._writing() as session, session.begin():
                session.execute(insert(CardRow), [_values(record)])
        except SQLAlchemyError as error:
            raise unavailable("commit the card", error) from error
        return record

    def record_feedback(
        self, *, service_id: str, iss: str, feedback: Sequence[NewFeedback]
    ) -> list[StoredFeedback]:
        """Commit feedback items, each with its card's assessment: all of them, or none.

        Args:
            service_id: The CDS service the feedback was posted to.
            iss: The EHR that posted it; only cards issued to it are found.
            feedback: The items, in the order received.

        Raises:
            UnknownCardError: Some items name cards not issued by ``service_id`` to ``iss``.
            ValueError: An unknown outcome, or a naive outcome time.
            AuditUnavailableError: Nothing was committed.
        """
        for item in feedback:
            if item.outcome not in CARD_OUTCOMES:
                raise ValueError(f"outcome must be one of {', '.join(CARD_OUTCOMES)}")
            if item.outcome_timestamp.utcoffset() is None:
                raise ValueError("outcome_timestamp must be timezone-aware")
        keys = [_card_key(item.card_uuid) for item in feedback]
        created_at = datetime.now(UTC)
        try:
            with self._write_turn, self._writing() as session, session.begin():
                query = select(CardRow.card_uuid, CardRow.assessment_id).where(
                    CardRow.card_uuid.in_({k for k in keys if k is not None}),
                    CardRow.service_id == service_id,
                    CardRow.iss == iss,
                )
                shown = dict(session.execute(query).all())  # card uuid -> assessment id
                unknown = [i for i, key in enumerate(keys) if key not in shown]
                if unknown:
                    raise UnknownCardError(unknown)  # leaves the transaction: nothing stored
                records = [
                    StoredFeedback(
                        feedback_id=str(uuid.uuid4()),
                        created_at=created_at,
                        service_id=service_id,
                        card_uuid=key,
                        assessment_id=shown[key],
                        iss=iss,
                        outcome=item.outcome,
                        outcome_timestamp=item.outcome_timestamp.astimezone(UTC),
                        override_system=item.override_system,
                        override_code=item.override_code,
                        user_comment=item.user_comment,
                    )
                    for key, item in zip(keys, feedback, strict=True)
                ]
                if records:
                    rows = [_values(r) for r in records]
                    session.execute(insert(FeedbackRow), rows)
        except SQLAlchemyError as error:
            raise unavailable("commit the feedback", error) from error
        return records

    def feedback(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        service_id: str | None = None,
    ) -> Iterator[StoredFeedback]:
        """Stored feedback items, oldest first, optionally narrowed to a window and service.

        Raises:
            ValueError: A naive ``since`` or ``until`` (on the first ``next``).
            AuditUnavailableError: The database could not be read.
        """
        for bound in (since, until):
            if bound is not None and bound.utcoffset() is None:
                raise ValueError("since and until must be timezone-aware")
        query = select(FeedbackRow).order_by(FeedbackRow.created_at, FeedbackRow.feedback_id)
        if since is not None:
            query = query.where(FeedbackRow.created_at >= since)
        if until is not None:
            query = query.where(FeedbackRow.created_at < until)
        if service_id is not None:
            query = query.where(FeedbackRow.service_id == service_id)
        try:
            with self._reading() as session:
                for row in session.scalars(query.execution_options(yield_per=_STREAM_BATCH)):
                    yield row.to_record()
        except SQLAlchemyError as error:
            raise unavailable("read feedback", error) from error

    def get_card(self, card_uuid: str) -> StoredCard | None:
        """The card issued under this ``uuid``, None when there is none.

        Raises:
            AuditUnavailableError: The database could not be read.
        """
        key = _card_key(card_uuid)
        if key is None:
            return None
        try:
            with self._reading() as session:
                row = session.get(CardRow, key)
                return None if row is None else row.to_record()
        except SQLAlchemyError as error:
            raise unavailable("read the card", error) from error

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
            with self._write_turn, self._writing() as session, session.begin():
                session.execute(expired)
                session.execute(
                    insert(TokenIdRow), [{"iss": iss, "jti": jti, "expires_at": expires_at}]
                )
        except IntegrityError:
            return False  # the key (iss, jti) is taken: this token was used before
        except SQLAlchemyError as error:
            raise unavailable("record the token id", error) from error
        return True


def _card_key(card_uuid: str) -> str | None:
    """The canonical spelling of a card ``uuid``, None when it is not a UUID (never issued)."""
    try:
        return uuid_text(card_uuid, what="card_uuid")
    except ValueError:
        return None


def _values(record: StoredCard | StoredFeedback) -> dict[str, Any]:
    """The record's fields by name, which are the rows' attribute names."""
    return {field.name: getattr(record, field.name) for field in dataclasses.fields(record)}
