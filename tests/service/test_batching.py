"""The micro-batcher: concurrent assessments scored and committed together, each answered
only after its batch committed, a failed commit failing the whole batch, a broken request
failing alone, and an idle server never waiting."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.batching import AssessmentBatcher
from service.errors import ApiError
from service.observability import ServiceMetrics


@dataclass
class _Served:
    name: str = "dropout-risk"
    version: str = "1"


@dataclass
class _Recorder:
    """Stands in for :class:`service.recording.Recorder`: answers each request with its own
    body and caller, keeps the batches it committed, and fails on demand."""

    fail_commit: bool = False
    fail_after_commit: bool = False
    broken: set[str] = field(default_factory=set)
    seconds_per_batch: float = 0.0
    batches: list[list[tuple[str, str]]] = field(default_factory=list)
    threads: set[int] = field(default_factory=set)

    def score_each(self, scorings, served):
        self.threads.add(threading.get_ident())
        time.sleep(self.seconds_per_batch)
        if self.broken & {scoring.request for scoring in scorings}:
            raise ValueError("a request the scoring code cannot handle")
        return [f"answer to {s.request} for {s.caller} by {served.version}" for s in scorings]

    def record_each(self, scorings, responses, served):
        self.threads.add(threading.get_ident())
        if self.fail_commit:
            raise ApiError(503, "audit_unavailable", "the audit store did not commit")
        self.batches.append([(s.request, s.caller) for s in scorings])
        if self.fail_after_commit:
            raise RuntimeError("a bug after the commit")


def _batcher(recorder: _Recorder, *, max_batch: int = 64, wait: float = 0.0):
    return AssessmentBatcher(
        recorder=recorder, metrics=ServiceMetrics(), max_batch=max_batch, max_wait_seconds=wait
    )


async def _many(batcher, names, served=None, *, stagger: float = 0.0):
    served = served or _Served()

    async def one(index: int, name: str):
        await asyncio.sleep(stagger * index)
        return await batcher.assess(name, served, caller=f"caller-{name}")

    return await asyncio.gather(*(one(i, n) for i, n in enumerate(names)), return_exceptions=True)


@settings(max_examples=25, deadline=None)
@given(
    count=st.integers(min_value=1, max_value=60),
    max_batch=st.integers(min_value=1, max_value=16),
    wait=st.sampled_from([0.0, 0.001]),
)
def test_every_request_gets_its_own_answer_and_is_committed_exactly_once(count, max_batch, wait):
    recorder = _Recorder(seconds_per_batch=0.002)
    names = [f"client-{i}" for i in range(count)]
    answers = asyncio.run(_many(_batcher(recorder, max_batch=max_batch, wait=wait), names))
    assert answers == [f"answer to {n} for caller-{n} by 1" for n in names]
    committed = [request for batch in recorder.batches for request, _ in batch]
    assert sorted(committed) == sorted(names)
    assert all(len(batch) <= max_batch for batch in recorder.batches)


def test_requests_arriving_together_share_a_batch_and_run_off_the_event_loop():
    recorder = _Recorder(seconds_per_batch=0.01)
    answers = asyncio.run(_many(_batcher(recorder), [f"c{i}" for i in range(20)]))
    assert len(answers) == 20
    assert len(recorder.batches) < 20, recorder.batches  # some were scored together
    assert max(len(batch) for batch in recorder.batches) > 1
    assert threading.get_ident() not in recorder.threads


def test_an_idle_server_scores_a_lone_request_at_once_without_waiting():
    recorder = _Recorder()
    batcher = _batcher(recorder, wait=0.05)  # a long wait, which an idle server never takes

    async def alone():
        started = time.perf_counter()
        await batcher.assess("lonely", _Served(), caller="c")
        return time.perf_counter() - started

    elapsed = asyncio.run(alone())
    assert recorder.batches == [[("lonely", "c")]]
    assert elapsed < 0.05  # it did not wait for a batch to fill


def test_under_load_a_batch_waits_only_until_as_many_as_last_time_have_come():
    """Clients answered together come back together: once as many requests as the last
    batch held are waiting, the batch is scored, without waiting out ``max_wait``."""
    recorder = _Recorder()
    batcher = _batcher(recorder, wait=1.0)  # a long wait, which a full batch never takes
    names = [f"c{i}" for i in range(4)]

    async def two_rounds():
        await _many(batcher, names)  # arrive together, scored together: the last size is 4
        started = time.perf_counter()
        await _many(batcher, names)
        return time.perf_counter() - started

    elapsed = asyncio.run(two_rounds())
    assert [len(batch) for batch in recorder.batches] == [4, 4]
    assert elapsed < 0.5, elapsed  # it did not wait the second round's full second


def test_a_failed_commit_fails_every_request_of_its_batch_with_the_audit_503():
    recorder = _Recorder(fail_commit=True)
    answers = asyncio.run(_many(_batcher(recorder), ["a", "b", "c"]))
    assert all(isinstance(a, ApiError) and a.status == 503 for a in answers), answers
    assert recorder.batches == []  # nothing committed, nothing acknowledged


def test_a_request_that_breaks_scoring_fails_alone():
    recorder = _Recorder(broken={"poison"})
    answers = asyncio.run(_many(_batcher(recorder), ["a", "poison", "b"]))
    assert answers[0] == "answer to a for caller-a by 1"
    assert isinstance(answers[1], ValueError)
    assert answers[2] == "answer to b for caller-b by 1"
    committed = sorted(request for batch in recorder.batches for request, _ in batch)
    assert committed == ["a", "b"]


def test_requests_admitted_under_two_model_versions_are_scored_each_by_its_own():
    recorder = _Recorder(seconds_per_batch=0.005)
    batcher = _batcher(recorder)
    old, new = _Served(version="1"), _Served(version="2")

    async def both():
        return await asyncio.gather(
            batcher.assess("x", old, caller="c"),
            batcher.assess("y", new, caller="c"),
            batcher.assess("z", old, caller="c"),
        )

    assert asyncio.run(both()) == [
        "answer to x for c by 1",
        "answer to y for c by 2",
        "answer to z for c by 1",
    ]


def test_a_caller_that_goes_away_does_not_cancel_the_commit_of_its_batch():
    recorder = _Recorder(seconds_per_batch=0.02)
    batcher = _batcher(recorder)

    async def impatient():
        task = asyncio.create_task(batcher.assess("leaver", _Served(), caller="c"))
        await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.05)  # the batch goes on

    asyncio.run(impatient())
    assert recorder.batches == [[("leaver", "c")]]


def test_a_failure_after_the_commit_fails_the_batch_and_never_records_it_twice():
    recorder = _Recorder(fail_after_commit=True, seconds_per_batch=0.005)
    answers = asyncio.run(_many(_batcher(recorder), ["a", "b", "c"]))
    assert all(isinstance(a, RuntimeError) for a in answers), answers
    committed = sorted(request for batch in recorder.batches for request, _ in batch)
    assert committed == ["a", "b", "c"]  # once each: not retried one by one


def test_beyond_the_waiting_limit_a_request_is_refused_at_once_with_503():
    recorder = _Recorder(seconds_per_batch=0.02)
    batcher = AssessmentBatcher(
        recorder=recorder, metrics=ServiceMetrics(), max_batch=2, max_wait_seconds=0.0,
        max_waiting=3,
    )  # fmt: skip
    answers = asyncio.run(_many(batcher, [f"c{i}" for i in range(8)]))
    refused = [a for a in answers if isinstance(a, ApiError)]
    assert refused and all(a.status == 503 and a.code == "overloaded" for a in refused)
    assert refused[0].headers == {"Retry-After": "1"}
    answered = [a for a in answers if isinstance(a, str)]
    committed = [request for batch in recorder.batches for request, _ in batch]
    assert len(answered) == len(committed) == 8 - len(refused)


def test_a_stopped_batcher_leaves_nobody_waiting():
    recorder = _Recorder(seconds_per_batch=0.05)
    batcher = _batcher(recorder)

    async def stop_while_scoring():
        waiting = [
            asyncio.create_task(batcher.assess(name, _Served(), caller="c"))
            for name in ("a", "b", "c")
        ]
        await asyncio.sleep(0.01)
        batcher._drain.cancel()  # as at shutdown
        return await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), timeout=5)

    answers = asyncio.run(stop_while_scoring())
    assert len(answers) == 3 and all(isinstance(a, RuntimeError) for a in answers), answers
