"""Micro-batching: single assessments that arrive together are scored and committed as one.

Each ``POST /v1/risk-assessments`` awaits :meth:`AssessmentBatcher.assess`. The first request
to arrive when nothing is being scored starts a drain: everything pending is taken as one
batch, featurised, scored and explained in one pass through the model, and committed to the
audit store in one transaction (one fsync for the batch, not one per request), off the event
loop. Requests that arrive meanwhile wait for the next batch, so batches grow with the load
by themselves: an idle server scores a request at once, with no wait at all. Under load (the
last batch held more than one request) the drain may wait up to ``max_wait_seconds`` until as
many requests as the last batch held are waiting, and a batch never holds more than
``max_batch`` requests.

No answer leaves before its record is committed: a request's future is resolved only after
its batch committed, and a failed commit fails every request of that batch with the audit
store's 503 (nothing of it is retried: a retry after a commit would record twice). A
request that breaks the scoring code (a bug, not bad input: that is refused earlier) is
scored again alone, before anything is recorded, so that it fails by itself and not the
requests it arrived with. At most ``max_waiting`` requests wait; more are refused at once
with a 503 and ``Retry-After`` rather than queued without bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from anyio import to_thread

from service.errors import ApiError
from service.lifecycle import ServedModel
from service.observability import ServiceMetrics
from service.recording import Recorder, Scoring
from service.schemas import AssessmentRequest, AssessmentResponse

_log = logging.getLogger(__name__)


@dataclass
class _Pending:
    scoring: Scoring
    served: ServedModel
    answer: asyncio.Future[AssessmentResponse] = field(repr=False)


class AssessmentBatcher:
    """Gathers concurrent assessments into batches scored and committed together."""

    def __init__(
        self,
        *,
        recorder: Recorder,
        metrics: ServiceMetrics,
        max_batch: int,
        max_wait_seconds: float,
        max_waiting: int = 1024,
    ) -> None:
        """Score through ``recorder``; at most ``max_batch`` requests per batch, under load
        wait at most ``max_wait_seconds`` for one to fill, and let at most ``max_waiting``
        requests wait."""
        self._recorder = recorder
        self._metrics = metrics
        self._max_batch = max_batch
        self._max_wait = max_wait_seconds
        self._max_waiting = max_waiting
        self._pending: list[_Pending] = []
        self._drain: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()
        self._last_size = 0

    async def assess(
        self,
        request: AssessmentRequest,
        served: ServedModel,
        *,
        caller: str,
        warnings: Sequence[str] = (),
    ) -> AssessmentResponse:
        """Score and commit ``request`` with the requests arriving with it; its answer.

        Raises:
            service.errors.ApiError: 503 ``audit_unavailable`` when its batch did not commit;
                503 ``overloaded`` when ``max_waiting`` requests are waiting already.
        """
        if len(self._pending) >= self._max_waiting:
            raise ApiError(
                503,
                "overloaded",
                "the service has more assessments waiting than it takes; retry shortly",
                headers={"Retry-After": "1"},
            )
        answer: asyncio.Future[AssessmentResponse] = asyncio.get_running_loop().create_future()
        self._pending.append(
            _Pending(Scoring(request=request, caller=caller, warnings=warnings), served, answer)
        )
        self._arrived.set()
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._drain_pending())
            self._drain.add_done_callback(_log_failure)
        # A caller that goes away does not cancel its batch: the record is still committed.
        return await asyncio.shield(answer)

    async def _drain_pending(self) -> None:
        batch: list[_Pending] = []
        try:
            while self._pending:
                if self._max_wait > 0 and self._last_size > 1:
                    await self._fill()
                batch = self._pending[: self._max_batch]
                del self._pending[: len(batch)]
                self._last_size = len(batch)
                self._metrics.batch_size.observe(len(batch))
                for group in _by_model(batch):
                    await self._score(group)
                batch = []
        finally:
            # Cancelled (shutdown) or broken: nobody may be left waiting for an answer.
            for pending in [*batch, *self._pending]:
                _settle(pending.answer, error=RuntimeError("the assessment was not scored"))
            self._pending.clear()

    async def _fill(self) -> None:
        """Wait, at most ``max_wait``, for as many requests as the last batch held (at most
        ``max_batch``): the clients that were answered together tend to come back together,
        and once they have, waiting longer only idles the scoring thread."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_wait
        while len(self._pending) < min(self._last_size, self._max_batch):
            left = deadline - loop.time()
            if left <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=left)
            except TimeoutError:
                return

    async def _score(self, group: list[_Pending]) -> None:
        served = group[0].served
        scorings = [pending.scoring for pending in group]
        try:
            # Scored and recorded in one trip to a worker thread: each trip costs a wake-up.
            responses = await to_thread.run_sync(self._score_and_record, scorings, served)
        except _ScoringFailed as failure:
            error = failure.__cause__ or failure
            if len(group) == 1:
                _settle(group[0].answer, error=error)
                return
            _log.warning(
                "a batch of assessments failed to score; scoring its requests one by one",
                extra={"event": "batch_split", "size": len(group)},
            )
            for pending in group:
                await self._score([pending])
            return
        except Exception as error:  # noqa: BLE001 - the audit 503, or a 500, for every one
            # Not retried: whatever failed, the batch may have committed.
            for pending in group:
                _settle(pending.answer, error=error)
            return
        for pending, response in zip(group, responses, strict=True):
            _settle(pending.answer, result=response)

    def _score_and_record(
        self, scorings: list[Scoring], served: ServedModel
    ) -> list[AssessmentResponse]:
        """Score, then commit: a failure to score (nothing recorded yet) is told apart from a
        failure to record, which may have committed."""
        try:
            responses = self._recorder.score_each(scorings, served)
        except Exception as error:
            raise _ScoringFailed from error
        self._recorder.record_each(scorings, responses, served)
        return responses


class _ScoringFailed(Exception):
    """Scoring a batch raised (its cause): nothing of it was recorded, so it can be retried."""


def _by_model(batch: list[_Pending]) -> list[list[_Pending]]:
    """The batch split by the model version each request was admitted under (one, except
    across a model switch), in arrival order within each."""
    groups: dict[int, list[_Pending]] = {}
    for pending in batch:
        groups.setdefault(id(pending.served), []).append(pending)
    return list(groups.values())


def _log_failure(task: asyncio.Task[None]) -> None:
    """Log a drain that ended by an error (its waiters were answered already)."""
    if not task.cancelled() and task.exception() is not None:
        _log.error(
            "the micro-batcher stopped on an error",
            exc_info=task.exception(),
            extra={"event": "batcher_failed"},
        )


def _settle(
    answer: asyncio.Future[AssessmentResponse],
    *,
    result: AssessmentResponse | None = None,
    error: BaseException | None = None,
) -> None:
    if answer.done():
        return
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(result)
