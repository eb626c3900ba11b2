"""The alert store: one active alert per problem, steps by someone, clinics kept apart."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest

from service.audit import NewAlert
from service.audit.alerts import AlertStateError


def _alert(stored, kind: str = "high_risk", outcome: str | None = "dropout") -> NewAlert:
    return NewAlert(
        clinic_id=stored.clinic_id,
        client_id=stored.client_id,
        therapist_id="t-1",
        assessment_id=stored.assessment_id,
        kind=kind,
        outcome=outcome,
    )


def test_an_active_alert_is_not_raised_again(store, assess):
    first, second = assess(store), assess(store)
    (raised,) = store.alerts.raise_alerts([_alert(first), _alert(first)])
    assert store.alerts.raise_alerts([_alert(second)]) == []  # still open
    other = store.alerts.raise_alerts([_alert(second, outcome="poor_outcome")])
    assert len(other) == 1  # another outcome is another problem
    store.alerts.act(raised.alert_id, step="acknowledged", actor="t", note=None, clinics=None)
    assert store.alerts.raise_alerts([_alert(second)]) == []  # acknowledged: still active
    store.alerts.act(raised.alert_id, step="resolved", actor="t", note="seen", clinics=None)
    assert len(store.alerts.raise_alerts([_alert(second)])) == 1  # a new episode of high risk


def test_a_new_self_harm_endorsement_is_raised_again_once_the_last_was_acknowledged(store, assess):
    first, second, third = assess(store), assess(store), assess(store)
    (raised,) = store.alerts.raise_alerts([_alert(first, kind="safety", outcome=None)])
    assert store.alerts.raise_alerts([_alert(second, kind="safety", outcome=None)]) == []
    store.alerts.act(raised.alert_id, step="acknowledged", actor="t", note=None, clinics=None)
    (again,) = store.alerts.raise_alerts([_alert(third, kind="safety", outcome=None)])
    assert again.assessment_id == third.assessment_id and again.state == "open"
    states = sorted(a.state for a in store.alerts.alerts(clinics=None))
    assert states == ["acknowledged", "open"]


def test_the_database_refuses_a_second_open_alert_for_a_problem(store, assess, audit_url):
    """Two replicas raising at once both pass the read; the unique index stops the second."""
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from service.audit.engine import create_audit_engine
    from service.audit.records import record_values
    from service.audit.tables import AlertRow

    stored = assess(store)
    (raised,) = store.alerts.raise_alerts([_alert(stored, kind="safety", outcome=None)])
    twin = record_values(raised)
    del twin["alert_id"]  # the key column is "id"
    twin["id"] = "00000000-0000-0000-0000-000000000001"
    engine = create_audit_engine(audit_url)
    try:
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(insert(AlertRow), [twin])
        (resolved,) = [dict(twin, id="00000000-0000-0000-0000-000000000002", state="resolved")]
        with engine.begin() as connection:  # a closed alert of the same problem is no twin
            connection.execute(insert(AlertRow), [resolved])
        seen = dict(twin, id="00000000-0000-0000-0000-000000000003", state="acknowledged")
        with engine.begin() as connection:  # nor one someone is attending to
            connection.execute(insert(AlertRow), [seen])
    finally:
        engine.dispose()


def test_each_step_records_who_when_and_the_note(store, assess):
    (raised,) = store.alerts.raise_alerts([_alert(assess(store), kind="safety", outcome=None)])
    clinics = frozenset({raised.clinic_id})
    acted = store.alerts.act(
        raised.alert_id, step="acknowledged", actor="dr-lee", note="called", clinics=clinics
    )
    assert (acted.state, acted.acted_by, acted.note) == ("acknowledged", "dr-lee", "called")
    store.alerts.act(raised.alert_id, step="dismissed", actor="dr-kim", note="dup", clinics=None)
    steps = store.alerts.steps(raised.alert_id)
    assert [(s.step, s.acted_by, s.note) for s in steps] == [
        ("acknowledged", "dr-lee", "called"),
        ("dismissed", "dr-kim", "dup"),
    ]
    with pytest.raises(AlertStateError):
        store.alerts.act(raised.alert_id, step="resolved", actor="x", note=None, clinics=None)
    assert [a.state for a in store.alerts.alerts(clinics=clinics, states=["dismissed"])] == [
        "dismissed"
    ]


def test_another_clinics_alert_is_not_found(store, assess):
    (raised,) = store.alerts.raise_alerts([_alert(assess(store))])
    elsewhere = frozenset({"somewhere-else"})
    assert store.alerts.alert(raised.alert_id, clinics=elsewhere) is None
    assert store.alerts.alerts(clinics=elsewhere) == []
    step = store.alerts.act(
        raised.alert_id, step="acknowledged", actor="x", note=None, clinics=elsewhere
    )
    assert step is None
    assert store.alerts.alert(raised.alert_id, clinics=None).state == "open"
    assert store.alerts.alert("not-a-uuid", clinics=None) is None


def test_erasure_removes_the_clients_alerts(store, assess):
    stored = assess(store)
    (raised,) = store.alerts.raise_alerts([_alert(stored)])
    store.alerts.act(raised.alert_id, step="acknowledged", actor="x", note=None, clinics=None)
    store.eraser.erase(
        clinic_id=stored.clinic_id, client_id=stored.client_id, erased_by="op", reason="asked"
    )
    assert store.alerts.alerts(clinics=None) == []


def test_the_same_client_id_in_another_clinic_is_another_client(store, assess):
    """Client ids are the clinic's own: an alert in one clinic covers nobody in another."""
    stored = assess(store)
    (north,) = store.alerts.raise_alerts([_alert(stored)])
    south = dataclasses.replace(_alert(stored), clinic_id=f"not-{north.clinic_id}")
    (raised,) = store.alerts.raise_alerts([south, _alert(stored)])
    assert (raised.clinic_id, raised.client_id) == (south.clinic_id, north.client_id)


def test_the_active_alert_read_finds_the_clients_through_their_index(store, assess, audit_url):
    """Every scored batch that may raise an alert reads its clients' alerts, and alerts are
    kept once closed: the read must seek (clinic, client) in its index, never scan them all
    (bench/bench_alert_read.py)."""
    from sqlalchemy import event, text

    from service.audit.alerts import raise_in
    from service.audit.engine import create_audit_engine
    from service.audit.tables import AlertRow

    stored = assess(store)
    others = [  # other clinics' clients, most of their alerts closed, as after a year
        vars(_alert(stored))
        | {
            "id": str(uuid.uuid4()),
            "raised_at": datetime.now(UTC),
            "clinic_id": f"clinic-{index % 200}",
            "client_id": f"other-{index}",
            "state": ("open", "resolved", "dismissed", "resolved")[index % 4],
        }
        for index in range(2_000)
    ]
    engine = create_audit_engine(audit_url)
    caught: list[tuple[str, object]] = []

    def catch(_connection, _cursor, statement, parameters, _context, _executemany):
        if statement.lstrip().upper().startswith("SELECT") and "alerts" in statement:
            caught.append((statement, parameters))

    try:
        with engine.begin() as connection:
            connection.execute(AlertRow.__table__.insert(), others)
            connection.execute(text("ANALYZE"))  # the planner chooses with real statistics
        event.listen(engine, "before_cursor_execute", catch)
        with engine.connect() as connection:  # the read a scored batch makes, rolled back
            raise_in(connection, [_alert(stored), _alert(stored, outcome="poor_outcome")])
        event.remove(engine, "before_cursor_execute", catch)
        ((statement, parameters),) = caught
        with engine.connect() as connection:
            cursor = connection.connection.cursor()
            if engine.dialect.name == "sqlite":
                cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                plan = " ".join(row[-1] for row in cursor.fetchall())
                assert "SEARCH alerts USING INDEX ix_alerts_clinic_id_client_id" in plan, plan
                assert "client_id=?" in plan, plan
            else:
                cursor.execute("EXPLAIN " + statement, parameters)
                plan = " ".join(row[0] for row in cursor.fetchall())
                assert "ix_alerts_clinic_id_client_id" in plan, plan
                condition = plan[plan.index("Index Cond") :]
                assert "clinic_id" in condition and "client_id" in condition, plan
    finally:
        engine.dispose()
