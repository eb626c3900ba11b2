"""The CDS Hooks part of the audit store: cards issued and clinicians' feedback on them.

A card is recorded with the assessment it shows, so feedback (which names only the card)
is stored with that assessment: acceptance and override rates can then be reported per
service, per model version and per window.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from sqlalchemy import insert, select

from service.audit.database import AuditDatabase
from service.audit.records import (
    CARD_OUTCOMES,
    NewFeedback,
    StoredCard,
    StoredFeedback,
    UnknownCardError,
    record_values,
    uuid_text,
)
from service.audit.tables import CardRow, FeedbackRow


class CdsRecords:
    """Cards and feedback in the audit database (:attr:`AuditStore.cards`)."""

    def __init__(self, database: AuditDatabase) -> None:
        self._database = database

    def record_card(
        self,
        *,
        card_uuid: str,
        assessment_id: str,
        service_id: str,
        iss: str,
        indicator: str,
        clinic_id: str = "unknown",
        caller: str | None = None,
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
            clinic_id=clinic_id,
            caller=caller or iss,
        )
        self._database.insert(CardRow, [record_values(record)], what="the card")
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
        with self._database.writing("commit the feedback") as session:
            query = select(CardRow.card_uuid, CardRow.assessment_id, CardRow.clinic_id).where(
                CardRow.card_uuid.in_({k for k in keys if k is not None}),
                CardRow.service_id == service_id,
                CardRow.iss == iss,
            )
            # card uuid -> (assessment id, clinic)
            shown = {card: (a, clinic) for card, a, clinic in session.execute(query).all()}
            unknown = [i for i, key in enumerate(keys) if key not in shown]
            if unknown:
                raise UnknownCardError(unknown)  # leaves the transaction: nothing stored
            records = [
                StoredFeedback(
                    feedback_id=str(uuid.uuid4()),
                    created_at=created_at,
                    service_id=service_id,
                    card_uuid=key,
                    assessment_id=shown[key][0],
                    iss=iss,
                    outcome=item.outcome,
                    outcome_timestamp=item.outcome_timestamp.astimezone(UTC),
                    override_system=item.override_system,
                    override_code=item.override_code,
                    user_comment=item.user_comment,
                    clinic_id=shown[key][1] or "unknown",
                )
                for key, item in zip(keys, feedback, strict=True)
            ]
            if records:
                rows = [record_values(r) for r in records]
                session.execute(insert(FeedbackRow), rows)
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
        yield from self._database.stream(query, what="feedback")

    def get_card(self, card_uuid: str) -> StoredCard | None:
        """The card issued under this ``uuid``, None when there is none.

        Raises:
            AuditUnavailableError: The database could not be read.
        """
        key = _card_key(card_uuid)
        if key is None:
            return None
        with self._database.reading("read the card") as session:
            row = session.get(CardRow, key)
            return None if row is None else row.to_record()


def _card_key(card_uuid: str) -> str | None:
    """The canonical spelling of a card ``uuid``, None when it is not a UUID (never issued)."""
    try:
        return uuid_text(card_uuid, what="card_uuid")
    except ValueError:
        return None
