"""Micro-batching: single assessments that arrive together are scored and committed as one.

Each ``POST /v1/risk-assessments`` awaits :meth:`AssessmentBatcher.assess`. The first request
to arrive when nothing is being scored starts a drain: everything pending is taken as one
batch, featurised, scored and explained in one pass through the model, and committed to the
audit store in one transaction (one fsync for the batch, not one per request), off the event
loop. Requests that arrive meanwhile wait for the next batch, so batches grow with the load
by themselves: an idle server scores a request at once, with no wait at all. Under load (the
last batch held more than one request) the drain may wait up to ``max_wait_seconds`` for the
batch to fill, and a batch never holds more than ``max_batch`` requests.

No answer leaves before its record is committed: a request's future is resolved only after
its batch committed, and a failed commit fails every request of that batch with the audit
store's 503. A request that breaks the scoring code (a bug, not bad input: that is refused
earlier) is retried alone, so that it fails by itself and not the requests it arrived with.
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
    ) -> None:
        """Score through ``recorder``; at most ``max_batch`` requests per batch, and under
        load wait at most ``max_wait_seconds`` for one to fill."""
        self._recorder = recorder
        self._metrics = metrics
        self._max_batch = max_batch
        self._max_wait = max_wait_seconds
        self._pending: list[_Pending] = []
        self._drain: asyncio.Task[None] | None = None
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
            service.errors.ApiError: 503 ``audit_unavailable`` when its batch did not commit.
        """
        answer: asyncio.Future[AssessmentResponse] = asyncio.get_running_loop().create_future()
        self._pending.append(
            _Pending(Scoring(request=request, caller=caller, warnings=warnings), served, answer)
        )
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._drain_pending())
        # A caller that goes away does not cancel its batch: the record is still committed.
        return await asyncio.shield(answer)

    async def _drain_pending(self) -> None:
        while self._pending:
            if self._max_wait > 0 and self._last_size > 1:
                await self._fill()
            batch = self._pending[: self._max_batch]
            del self._pending[: len(batch)]
            self._last_size = len(batch)
            self._metrics.batch_size.observe(len(batch))
            for group in _by_model(batch):
                await self._score(group)

    async def _fill(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_wait
        while len(self._pending) < self._max_batch and loop.time() < deadline:
            # Yield to the event loop so that requests already read can join this batch.
            await asyncio.sleep(min(0.0002, max(0.0, deadline - loop.time())))

    async def _score(self, group: list[_Pending]) -> None:
        served = group[0].served
        scorings = [pending.scoring for pending in group]
        try:
            responses = await to_thread.run_sync(
                self._recorder.score_and_record_each, scorings, served
            )
        except ApiError as error:
            # The commit failed: nothing of this batch was acknowledged.
            for pending in group:
                _settle(pending.answer, error=error)
            return
        except Exception as error:  # noqa: BLE001 - answered 500 in the request's own task
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
        for pending, response in zip(group, responses, strict=True):
            _settle(pending.answer, result=response)


def _by_model(batch: list[_Pending]) -> list[list[_Pending]]:
    """The batch split by the model version each request was admitted under (one, except
    across a model switch), in arrival order within each."""
    groups: dict[int, list[_Pending]] = {}
    for pending in batch:
        groups.setdefault(id(pending.served), []).append(pending)
    return list(groups.values())


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
