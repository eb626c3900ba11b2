"""Throughput runs of several servers, in rounds: pooled per server and level, and ratios
taken within each round (``bench/bench_service.py``).

On a noisy machine a server measured minutes after another can look 20% faster or slower
for no reason of its own; a ratio of two servers measured back to back in the same round
is steadier, and the median of several rounds' ratios steadier still.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Result:
    """One measured run of one server at one concurrency."""

    server: str
    concurrency: int
    latencies: list[float]
    errors: int
    elapsed: float
    warmup_ok: int = 0  # 200 answers to the (discarded) warm-up requests
    round: int = 0  # with --rounds: which pass over the servers it belongs to

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else math.nan


def pooled(results: list[Result]) -> dict[tuple[str, int], Result]:
    """Per (server, concurrency), every round's requests as one result (latencies and errors
    summed, elapsed times added, so its throughput is over all rounds)."""
    merged: dict[tuple[str, int], Result] = {}
    for r in results:
        key = (r.server, r.concurrency)
        if key not in merged:
            merged[key] = Result(r.server, r.concurrency, [], 0, 0.0)
        merged[key].latencies.extend(r.latencies)
        merged[key].errors += r.errors
        merged[key].elapsed += r.elapsed
        merged[key].warmup_ok += r.warmup_ok
    return merged


def ratios(results: list[Result], peer: str, concurrency: int) -> list[float]:
    """Ours' throughput over ``peer``'s at ``concurrency``, one ratio per round in which both
    were measured (each round measures the servers back to back)."""
    by_key = {(r.server, r.concurrency, r.round): r for r in results}
    found = []
    for round_ in sorted({r.round for r in results}):
        ours = by_key.get(("ours", concurrency, round_))
        theirs = by_key.get((peer, concurrency, round_))
        if ours is not None and theirs is not None and theirs.throughput:
            found.append(ours.throughput / theirs.throughput)
    return found


def median_ratio(results: list[Result], peer: str, concurrency: int) -> float | None:
    """The median of :func:`ratios` (None when no round measured both servers)."""
    found = ratios(results, peer, concurrency)
    return float(np.median(found)) if found else None


def ratio_words(found: list[float]) -> str:
    """``4.20x``, or with several rounds the median and each round's: ``4.20x (median of 3
    rounds: 3.90, 4.20, 4.50)``."""
    middle = float(np.median(found))
    if len(found) == 1:
        return f"{middle:.2f}x"
    each = ", ".join(f"{r:.2f}" for r in found)
    return f"{middle:.2f}x (median of {len(found)} rounds: {each})"
