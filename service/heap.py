"""The worker's heap settled once it has started: short, rare full garbage collections.

A started worker holds a few hundred thousand long-lived objects (FastAPI, SQLAlchemy,
pydantic, XGBoost, the model...). CPython's full collection walks every one of them, and
under load it ran every few seconds and took 150-300 ms on the development machine: a
request that waited for one saw its latency multiplied (bench at 16 connections: p99 236
ms, p95 under 50 ms), and about a tenth of the worker's time went to it. Settling the heap
after start-up moves what exists then to CPython's permanent generation
(:func:`gc.freeze`), which no collection walks again, and lets full collections run ten
times less often; cycles made later are still collected. The measurements are in
docs/speed.md.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Young-generation collections between full ones (CPython's default: 10). Full
#: collections also wait until the objects promoted since the last one are a quarter of
#: those it kept; both conditions must hold.
FULL_COLLECTION_EVERY = 100


@contextmanager
def settled_heap() -> Iterator[None]:
    """Within the block, the objects alive at its start are frozen and full collections
    are rarer; both are undone when it ends (another app in the same process, as in the
    tests, gets its heap back as it was)."""
    thresholds = gc.get_threshold()
    # Collected first: garbage frozen now would never be freed.
    gc.collect()
    gc.freeze()
    gc.set_threshold(thresholds[0], thresholds[1], max(thresholds[2], FULL_COLLECTION_EVERY))
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
