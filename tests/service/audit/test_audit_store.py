"""Writing and reading audit records: round trips, hashes, windows, durability, concurrency."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from service.audit import AuditStore, StoredAssessment, input_sha256
from service.audit.engine import create_audit_engine
from tests.support.polling import wait_until


def _later() -> datetime:
    """A moment strictly after every record written so far, and strictly before any written
    next (clocks tick in microseconds: wait for the clock to move on either side)."""
    before = datetime.now(UTC)
    moment = wait_until(lambda: (now := datetime.now(UTC)) > before and now, interval=0.0005)
    wait_until(lambda: datetime.now(UTC) > moment, interval=0.0005)
    return moment


def test_assessment_round_trip(store, make_request, make_response):
    assessment_id = str(uuid.uuid4())
    request, response = make_request(), make_response(assessment_id=assessment_id)
    before = datetime.now(UTC)

    recorded = store.record_assessment(
        assessment_id=assessment_id,
        client_id="c-001",
        as_of_session=2,
        model_name="dropout-risk",
        model_version="3",
        request=request,
        response=response,
    )
    stored = store.get_assessment(assessment_id)

    assert isinstance(stored, StoredAssessment)
    assert stored == recorded
    assert stored.request == request
    assert stored.response == response
    assert stored.input_sha256 == input_sha256(request)
    assert stored.created_at.tzinfo is not None
    assert stored.created_at.utcoffset() == timedelta(0)
    assert before <= stored.created_at <= datetime.now(UTC)
    assert (stored.client_id, stored.as_of_session) == ("c-001", 2)
    assert (stored.model_name, stored.model_version) == ("dropout-risk", "3")


def test_input_hash_is_canonical_and_ignores_key_order(store, assess, make_request):
    request = make_request()
    permuted = {
        "sessions": [dict(reversed(list(session.items()))) for session in request["sessions"]],
        "client": dict(reversed(list(request["client"].items()))),
    }
    first = assess(store)
    second = store.record_assessment(
        assessment_id=str(uuid.uuid4()),
        client_id="c-001",
        as_of_session=2,
        model_name="dropout-risk",
        model_version="3",
        request=permuted,
        response={},
    )
    assert second.input_sha256 == first.input_sha256
    assert store.get_assessment(second.assessment_id).input_sha256 == first.input_sha256
    # Canonical means: sorted keys, no whitespace, non-ASCII kept as UTF-8.
    expected = hashlib.sha256('{"a":"Zoë","b":[1,2.5]}'.encode()).hexdigest()
    assert input_sha256({"b": [1, 2.5], "a": "Zoë"}) == expected
    assert input_sha256(make_request(client_id="c-002")) != first.input_sha256


def test_unknown_assessment_is_none(store, assess):
    assess(store)
    assert store.get_assessment(str(uuid.uuid4())) is None
    assert store.get_assessment("not-a-uuid") is None


def test_a_response_given_as_its_json_text_is_stored_as_that_text(
    store, make_request, make_response, audit_url
):
    """The service hands over its answer's JSON (the text it sends), not a document to
    serialise again: that text is what is stored, and reads back as the same document."""
    from service.audit import NewAssessment

    assessment_id = str(uuid.uuid4())
    response = make_response(assessment_id=assessment_id)
    sent = json.dumps(response, separators=(", ", ": "))  # not the canonical spelling
    fields = {"client_id": "c-001", "as_of_session": 2, "model_name": "dropout-risk"}
    given = NewAssessment(
        assessment_id, **fields, model_version="3", request=make_request(), response=response,
        response_json=sent,
    )  # fmt: skip
    (recorded,) = store.record_assessments([given])
    assert store.get_assessment(assessment_id).response == response == recorded.response
    engine = create_audit_engine(audit_url)
    try:
        with engine.connect() as connection:
            stored = connection.execute(
                text("SELECT response FROM assessments WHERE id = :id"), {"id": assessment_id}
            ).scalar_one()
    finally:
        engine.dispose()
    if engine.dialect.name == "sqlite":
        assert stored == sent  # as given, not re-serialised (PostgreSQL's JSONB parses it)
    else:
        assert stored == response


def test_assessment_id_is_stored_in_canonical_form(store, make_request):
    assessment_id = uuid.uuid4()
    recorded = store.record_assessment(
        assessment_id=str(assessment_id).upper(),
        client_id="c-001",
        as_of_session=1,
        model_name="dropout-risk",
        model_version="3",
        request=make_request(),
        response={},
    )
    assert recorded.assessment_id == str(assessment_id)
    assert store.get_assessment(str(assessment_id)) == recorded
    assert store.get_assessment(str(assessment_id).upper()) == recorded


def test_outcome_round_trip(store):
    ended = store.record_outcome(
        client_id="c-001", termination="dropout", end_date=date(2026, 4, 2), reported_by="ehr"
    )
    ongoing = store.record_outcome(
        client_id="c-002", termination="ongoing", end_date=None, reported_by=None
    )
    assert list(store.outcomes()) == [ended, ongoing]
    assert ended.created_at.utcoffset() == timedelta(0)
    assert (ended.termination, ended.end_date, ended.reported_by) == (
        "dropout",
        date(2026, 4, 2),
        "ehr",
    )
    assert ongoing.end_date is None
    assert ongoing.reported_by is None
    assert list(store.outcomes(client_id="c-002")) == [ongoing]


def test_iterators_filter_by_window_and_version(store, assess):
    first = assess(store, model_version="3")
    start = _later()
    second = assess(store, model_version="4", client_id="c-002")
    third = assess(store, model_version="3")
    outcome = store.record_outcome(
        client_id="c-001", termination="completed", end_date=date(2026, 5, 1), reported_by=None
    )
    end = _later()
    fourth = assess(store, model_version="3")

    assert list(store.assessments()) == [first, second, third, fourth]
    assert list(store.assessments(since=start)) == [second, third, fourth]
    assert list(store.assessments(until=end)) == [first, second, third]
    assert list(store.assessments(since=start, until=end, model_version="3")) == [third]
    assert list(store.assessments(model_version="4")) == [second]
    assert list(store.assessments(client_id="c-002")) == [second]
    assert list(store.assessments(model_version="99")) == []
    # Any time zone is accepted; the window is the same instant.
    local = start.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert list(store.assessments(since=local)) == [second, third, fourth]
    assert list(store.outcomes(since=start, until=end)) == [outcome]
    assert list(store.outcomes(since=end)) == []


def test_monitoring_reads_ids_then_only_the_scores_of_the_records_it_lacks(store, assess):
    first = assess(store, client_id="c-001")
    start = _later()
    second = assess(store, client_id="c-002", model_version="4")
    end = _later()
    assess(store, client_id="c-003")

    assert store.assessment_ids(since=start, until=end) == {second.assessment_id}
    every = store.assessment_ids(since=first.created_at, until=_later())
    assert len(every) == 3
    # More ids than one query binds, an unknown id, and the order asked: all answered.
    asked = [str(uuid.uuid4()) for _ in range(600)] + [second.assessment_id, first.assessment_id]
    read = sorted(store.assessment_scores(asked), key=lambda r: r.created_at)
    assert [r.assessment_id for r in read] == [first.assessment_id, second.assessment_id]
    for light, full in zip(read, [first, second], strict=True):
        assert dataclasses.replace(light, response=full.response) == full
        assert light.response == {
            outcome: {
                "probability": full.response[outcome]["probability"],
                "risk_level": full.response[outcome]["risk_level"],
            }
            for outcome in ("dropout", "poor_outcome")
        }
        assert isinstance(light.response["dropout"]["probability"], float)


def test_a_caseload_reads_the_open_episodes_scores_and_only_the_latest_whole(store, assess):
    first, second = assess(store, client_id="c-001"), assess(store, client_id="c-002")
    south = assess(store, client_id="c-003", clinic_id="south")
    # Client ids are the clinic's own: another clinic's c-003 ending ends nothing here.
    store.record_outcome(
        client_id="c-003", clinic_id=first.clinic_id, termination="dropout",
        end_date=date(2026, 5, 1), reported_by="t",
    )  # fmt: skip
    assert [p.assessment_id for p in store.open_episode_points(clinics=frozenset({"south"}))] == [
        south.assessment_id
    ]
    clinic = frozenset({first.clinic_id})

    points = list(store.open_episode_points(clinics=clinic))
    assert [p.assessment_id for p in points] == [first.assessment_id, second.assessment_id]
    for point, full in zip(points, [first, second], strict=True):
        assert (point.clinic_id, point.client_id, point.created_at, point.as_of_session) == (
            full.clinic_id,
            full.client_id,
            full.created_at,
            full.as_of_session,
        )
        assert (point.dropout, point.poor_outcome) == (
            full.response["dropout"]["probability"],
            full.response["poor_outcome"]["probability"],
        )
        assert isinstance(point.dropout, float)
    assert len(list(store.open_episode_points())) == 3  # None: every clinic

    # "ongoing" ends nothing; an ending closes the episode; an assessment after it opens anew.
    def report(termination: str, end: date | None) -> list[str]:
        store.record_outcome(
            client_id="c-001", clinic_id=first.clinic_id, termination=termination,
            end_date=end, reported_by="t",
        )  # fmt: skip
        return [p.assessment_id for p in store.open_episode_points(clinics=clinic)]

    assert report("ongoing", None) == [first.assessment_id, second.assessment_id]
    assert report("completed", date(2026, 5, 1)) == [second.assessment_id]
    again = assess(store, client_id="c-001")
    points = list(store.open_episode_points(clinics=clinic))
    assert [p.assessment_id for p in points] == [second.assessment_id, again.assessment_id]

    # More ids than one query binds and an unknown id: the stored ones, whole.
    asked = [str(uuid.uuid4()) for _ in range(600)] + [second.assessment_id, first.assessment_id]
    read = sorted(store.assessments_with_ids(asked, clinics=None), key=lambda r: r.created_at)
    assert read == [first, second]
    # Another clinic's record is not read, whatever ids are asked.
    asked.append(south.assessment_id)
    assert store.assessments_with_ids(asked, clinics=frozenset({"south"})) == [south]
    assert south not in store.assessments_with_ids(asked, clinics=clinic)


def test_records_survive_a_new_store(audit_url, assess):
    with AuditStore.open(audit_url) as first_store:
        written = [assess(first_store, client_id=f"c-{n}") for n in range(3)]
        outcome = first_store.record_outcome(
            client_id="c-0", termination="referred", end_date=date(2026, 4, 1), reported_by="x"
        )

    with AuditStore.open(audit_url) as second_store:
        assert [second_store.get_assessment(r.assessment_id) for r in written] == written
        assert list(second_store.assessments()) == written
        assert list(second_store.outcomes()) == [outcome]


def test_concurrent_writers_all_land_once_each(store, audit_url, assess):
    threads, per_thread = 8, 50

    def write_many(worker: int) -> list[str]:
        return [
            assess(store, client_id=f"c-{worker}-{n}").assessment_id for n in range(per_thread)
        ]

    with ThreadPoolExecutor(max_workers=threads) as pool:
        written = [aid for ids in pool.map(write_many, range(threads)) for aid in ids]

    assert len(set(written)) == threads * per_thread
    engine = create_audit_engine(audit_url)
    try:
        with engine.connect() as connection:
            counts = dict(
                connection.execute(text("SELECT id, COUNT(*) FROM assessments GROUP BY id")).all()
            )
    finally:
        engine.dispose()
    assert counts == dict.fromkeys(written, 1)
    assert {record.assessment_id for record in store.assessments()} == set(written)


@pytest.mark.parametrize(
    "body",
    [{"score": float("nan")}, {"when": datetime(2026, 1, 1, tzinfo=UTC)}, {"x": float("inf")}],
)
def test_non_json_bodies_are_refused_and_nothing_is_written(store, make_request, body):
    assessment_id = str(uuid.uuid4())
    with pytest.raises(ValueError):
        store.record_assessment(
            assessment_id=assessment_id,
            client_id="c-001",
            as_of_session=2,
            model_name="dropout-risk",
            model_version="3",
            request=make_request(),
            response=body,
        )
    assert store.get_assessment(assessment_id) is None


def test_invalid_ids_and_outcomes_are_refused(store, make_request):
    with pytest.raises(ValueError, match="UUID"):
        store.record_assessment(
            assessment_id="42",
            client_id="c-001",
            as_of_session=2,
            model_name="dropout-risk",
            model_version="3",
            request=make_request(),
            response={},
        )
    with pytest.raises(ValueError, match="termination"):
        store.record_outcome(
            client_id="c-1", termination="finished", end_date=date(2026, 1, 1), reported_by=None
        )
    with pytest.raises(ValueError, match="end_date"):
        store.record_outcome(
            client_id="c-1", termination="dropout", end_date=None, reported_by=None
        )
    with pytest.raises(ValueError, match="end_date"):
        store.record_outcome(
            client_id="c-1", termination="ongoing", end_date=date(2026, 1, 1), reported_by=None
        )
    with pytest.raises(ValueError, match="timezone"):
        list(store.assessments(since=datetime(2026, 1, 1)))
    assert list(store.outcomes()) == []
