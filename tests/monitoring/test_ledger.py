"""The monitoring ledger: reports built check by check, reading only what is new, equal the
report of every stored record read at once, whatever arrives, ages out or is erased."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.contract import validate_extract
from monitoring import ledger as ledger_module
from monitoring.ledger import AssessmentLedger
from monitoring.report import ledger_report, monitor
from tests.support.records import START, reported_outcomes, scored_records
from training.synth import simulate_cohort


@pytest.fixture(scope="module")
def clinic(trained):
    """60 clients scored at every landmark, a minute apart, and how their episodes ended."""
    simulated = simulate_cohort(n_clients=60, seed=654)
    report = validate_extract(simulated.clients, simulated.sessions)
    records = scored_records(report.clients, report.sessions, trained.model)
    outcomes = reported_outcomes(report.clients, at=records[-1].created_at + timedelta(days=1))
    return records, outcomes, {"1": trained.model.metadata["reference"]}


def _comparable(report) -> dict:
    shown = report.to_dict()
    del shown["generated_at"]
    return shown


def _check(ledger, stored, *, since, until, outcomes, references):
    """What the service's check does: ids of the period, then only the records wanted."""
    in_period = {r.assessment_id for r in stored.values() if since <= r.created_at < until}
    ledger.keep_only(in_period)
    ledger.add(stored[key] for key in ledger.wanted(in_period) if key in stored)
    return ledger_report(
        ledger, outcomes, references=references, since=since, until=until, replicates=0
    )


@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_checks_give_the_report_of_all_records_read_at_once(clinic, data):
    records, outcomes, references = clinic
    # Times shuffled among the records: a client's fullest view is not always its newest,
    # so the period's start can drop a client's latest view while older ones stay.
    order = data.draw(st.permutations(range(len(records))))
    records = [
        dataclasses.replace(r, created_at=START + i * timedelta(minutes=1))
        for r, i in zip(records, order, strict=True)
    ]
    clients = sorted({r.client_id for r in records})
    ledger, stored = AssessmentLedger(), {}
    # The checks featurise in small chunks (records of different landmarks in different
    # calls); the report read at once, in one.
    chunk = data.draw(st.integers(1, 50), label="records featurised at once")
    arrived = 0
    for check in range(3):
        arrived = data.draw(st.integers(arrived, len(records)), label=f"arrived by check {check}")
        stored |= {r.assessment_id: r for r in records[:arrived]}
        erased = data.draw(st.sets(st.sampled_from(clients), max_size=3), label="erased")
        stored = {key: r for key, r in stored.items() if r.client_id not in erased}
        since = START + timedelta(minutes=data.draw(st.integers(0, len(records) // 2)))
        until = START + timedelta(minutes=len(records))
        with mock.patch.object(ledger_module, "_FEATURISED_AT_ONCE", chunk):
            incremental = _check(
                ledger, stored, since=since, until=until, outcomes=outcomes, references=references
            )
        at_once = monitor(
            list(stored.values()),
            outcomes,
            references=references,
            since=since,
            until=until,
            replicates=0,
        )
        assert _comparable(incremental) == _comparable(at_once)
        assert len(ledger) == sum(since <= r.created_at < until for r in stored.values())


def test_a_latest_view_that_leaves_the_period_is_read_again_from_the_ones_left(clinic):
    records, _, _ = clinic
    client = records[0].client_id
    views = sorted((r for r in records if r.client_id == client), key=lambda r: r.as_of_session)
    assert len(views) >= 3
    # The fullest view is the oldest record; the others follow, fullest first.
    reordered = [
        dataclasses.replace(r, created_at=START + i * timedelta(minutes=1))
        for i, r in enumerate(reversed(views))
    ]
    ledger = AssessmentLedger()
    ledger.add(reordered)
    assert [r.assessment_id for r in ledger.latest()] == [reordered[0].assessment_id]
    assert ledger.wanted({r.assessment_id for r in reordered}) == []

    remaining = {r.assessment_id for r in reordered[1:]}
    ledger.keep_only(remaining)
    assert ledger.latest() == []
    assert ledger.wanted(remaining) == [reordered[1].assessment_id]
    ledger.add([reordered[1]])
    (latest,) = ledger.latest()
    assert latest.assessment_id == reordered[1].assessment_id and latest.response == {}
    assert len(ledger) == len(reordered) - 1


def test_a_record_that_cannot_be_read_is_named_and_keeps_nothing_of_its_chunk(clinic):
    records, outcomes, references = clinic
    broken = dataclasses.replace(
        records[5],
        response={
            "dropout": {"probability": None, "risk_level": "high"},
            "poor_outcome": records[5].response["poor_outcome"],
        },
    )
    ledger = AssessmentLedger()
    with pytest.raises(ValueError, match=f"{broken.assessment_id}.*dropout.probability"):
        ledger.add([*records[:5], broken, *records[6:]])
    assert len(ledger) == 0 and ledger.latest() == []

    readable = [*records[:5], *records[6:]]
    ledger.add(readable)
    period = {"since": START, "until": records[-1].created_at + timedelta(minutes=1)}
    incremental = ledger_report(ledger, outcomes, references=references, replicates=0, **period)
    at_once = monitor(readable, outcomes, references=references, replicates=0, **period)
    assert _comparable(incremental) == _comparable(at_once)
