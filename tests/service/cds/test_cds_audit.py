"""The audit store's CDS Hooks records, on SQLite and PostgreSQL: cards, feedback, token ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.audit import AuditStore, NewFeedback, UnknownCardError
from service.audit.engine import create_audit_engine
from service.audit.tables import TokenIdRow

EHR = "https://ehr.example.org"


def _assessment(store: AuditStore) -> str:
    assessment_id = str(uuid.uuid4())
    store.record_assessment(
        assessment_id=assessment_id,
        client_id="c-001",
        as_of_session=2,
        model_name="dropout-risk",
        model_version="3",
        request={"client": {"client_id": "c-001"}},
        response={"assessment_id": assessment_id},
    )
    return assessment_id


def _card(store: AuditStore, *, iss: str = EHR, service_id: str = "psychotherapy-risk"):
    return store.cards.record_card(
        card_uuid=str(uuid.uuid4()).upper(),  # any spelling is stored canonically
        assessment_id=_assessment(store),
        service_id=service_id,
        iss=iss,
        indicator="warning",
    )


def _item(card_uuid: str, outcome: str = "accepted", **changes) -> NewFeedback:
    when = datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    return NewFeedback(card_uuid=card_uuid, outcome=outcome, outcome_timestamp=when, **changes)


def test_feedback_is_stored_with_the_assessment_its_card_showed(store):
    card = _card(store)
    assert card.card_uuid == card.card_uuid.lower()
    assert store.cards.get_card(card.card_uuid.upper()) == card
    stored = store.cards.record_feedback(
        service_id="psychotherapy-risk",
        iss=EHR,
        feedback=[
            _item(card.card_uuid),
            _item(
                card.card_uuid.upper(),
                "overridden",
                override_system="https://dropout-risk.org/fhir/CodeSystem/cds-override-reason",
                override_code="clinical-judgement",
                user_comment="Zoë — knows the client well",
            ),
        ],
    )
    assert [f.assessment_id for f in stored] == [card.assessment_id] * 2
    read = list(store.cards.feedback(service_id="psychotherapy-risk"))
    assert sorted(read, key=lambda f: f.outcome) == sorted(stored, key=lambda f: f.outcome)
    overridden = next(f for f in read if f.outcome == "overridden")
    assert overridden.user_comment == "Zoë — knows the client well"
    assert overridden.outcome_timestamp == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    assert list(store.cards.feedback(service_id="another-service")) == []
    assert list(store.cards.feedback(since=datetime.now(UTC) + timedelta(minutes=1))) == []


@pytest.mark.parametrize("mismatch", ["unknown", "not a uuid", "other ehr", "other service"])
def test_feedback_on_a_card_not_sent_to_that_ehr_stores_nothing(store, mismatch):
    card = _card(store)
    stranger = {
        "unknown": _item(str(uuid.uuid4())),
        "not a uuid": _item("card-1"),
        "other ehr": _item(_card(store, iss="https://other.example.org").card_uuid),
        "other service": _item(_card(store, service_id="other").card_uuid),
    }[mismatch]
    with pytest.raises(UnknownCardError) as raised:
        store.cards.record_feedback(
            service_id="psychotherapy-risk", iss=EHR, feedback=[_item(card.card_uuid), stranger]
        )
    assert raised.value.positions == [1]
    assert list(store.cards.feedback()) == []


def test_invalid_feedback_is_refused(store):
    card = _card(store)
    naive = NewFeedback(card.card_uuid, "accepted", datetime(2026, 6, 1, 12, 0))
    for item in (_item(card.card_uuid, "ignored"), naive):
        with pytest.raises(ValueError):
            store.cards.record_feedback(service_id="psychotherapy-risk", iss=EHR, feedback=[item])
    with pytest.raises(ValueError):
        store.cards.record_card(
            card_uuid="x",
            assessment_id=str(uuid.uuid4()),
            service_id="s",
            iss=EHR,
            indicator="info",
        )


def test_a_token_id_is_accepted_once_per_issuer_until_it_expires(store, audit_url):
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert store.token_ids.remember_token_id(iss=EHR, jti="j-1", expires_at=later) is True
    assert store.token_ids.remember_token_id(iss=EHR, jti="j-1", expires_at=later) is False
    other = "https://other.example.org"
    assert store.token_ids.remember_token_id(iss=other, jti="j-1", expires_at=later)

    past = datetime.now(UTC) - timedelta(seconds=1)
    assert store.token_ids.remember_token_id(iss=EHR, jti="j-old", expires_at=past) is True
    # The next write drops expired ids: the table holds only tokens still presentable.
    assert store.token_ids.remember_token_id(iss=EHR, jti="j-2", expires_at=later) is True
    engine = create_audit_engine(audit_url)  # read the table as another process would
    with Session(engine) as session:
        jtis = set(session.scalars(select(TokenIdRow.jti)))
        assert session.scalar(select(func.count()).select_from(TokenIdRow)) == 3
    engine.dispose()
    assert jtis == {"j-1", "j-2"}
    with pytest.raises(ValueError):
        store.token_ids.remember_token_id(iss=EHR, jti="j-3", expires_at=datetime(2030, 1, 1))
