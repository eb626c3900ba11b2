"""The worker's heap is settled while the app runs, and given back as it was after."""

from __future__ import annotations

import gc
import weakref

from fastapi.testclient import TestClient

from service.heap import FULL_COLLECTION_EVERY, settled_heap


class _Cycle:
    """An object in a reference cycle: only the garbage collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_settling_freezes_what_lives_and_still_collects_new_cycles():
    thresholds = gc.get_threshold()
    kept = _Cycle()
    garbage = weakref.ref(_Cycle())  # unreachable before the block: collected, not frozen
    with settled_heap():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[2] == max(thresholds[2], FULL_COLLECTION_EVERY)
        assert garbage() is None
        later = weakref.ref(_Cycle())
        gc.collect()
        assert later() is None  # a cycle made after settling is collected as ever
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds
    assert kept.me is kept


def test_the_app_settles_its_heap_while_it_runs_when_asked(registry, make_settings):
    from service.app import create_app

    thresholds = gc.get_threshold()
    settings = make_settings(tracking_uri=registry.tracking_uri, settle_heap=True)
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds


def test_by_default_a_service_settles_its_heap():
    from service.settings import ServiceSettings

    assert ServiceSettings.model_fields["settle_heap"].default is True
