"""The model cache: what was saved loads back, and no crash or race leaves half an entry."""

from __future__ import annotations

import threading

import pytest

from models.bundle import IncompatibleModelError
from service.model_cache import ModelCache

METRICS = {"dropout": {"auroc": 0.75}}


def _save(cache: ModelCache, model, version: str) -> None:
    cache.save(
        model, name="dropout-risk", version=version, alias="champion", run_id="r1", metrics=METRICS
    )


def test_an_empty_cache_holds_nothing(tmp_path):
    assert ModelCache(tmp_path / "missing").load() is None


def test_the_last_saved_model_loads_back(trained, tmp_path):
    cache = ModelCache(tmp_path / "cache")
    _save(cache, trained.model, "1")
    _save(cache, trained.model, "2")
    cached = cache.load()
    assert (cached.name, cached.version, cached.alias) == ("dropout-risk", "2", "champion")
    assert (cached.run_id, cached.metrics) == ("r1", METRICS)
    assert cached.model.dropout.calibrator == trained.model.dropout.calibrator
    assert cached.model.max_landmark == trained.model.max_landmark
    entries = [p.name for p in cache.directory.iterdir() if p.name.startswith("entry-")]
    assert len(entries) == 1  # the older entry is gone


def test_a_save_cut_short_leaves_the_previous_model_in_force(trained, tmp_path):
    cache = ModelCache(tmp_path / "cache")
    _save(cache, trained.model, "1")
    # What a crash before the link's switch leaves: an entry nothing points at.
    half = cache.directory / "entry-crashed"
    (half / "bundle").mkdir(parents=True)
    (half / "bundle" / "bundle.json").write_text("{")
    assert cache.load().version == "1"
    _save(cache, trained.model, "2")
    assert not half.exists()  # cleaned up by the next save
    assert cache.load().version == "2"


def test_concurrent_savers_leave_one_complete_entry(trained, tmp_path):
    cache = ModelCache(tmp_path / "cache")  # as uvicorn workers starting at once would
    savers = [
        threading.Thread(target=_save, args=(cache, trained.model, str(n))) for n in range(4)
    ]
    for saver in savers:
        saver.start()
    for saver in savers:
        saver.join()
    assert cache.load().version in {"0", "1", "2", "3"}
    assert len([p for p in cache.directory.iterdir() if p.name.startswith("entry-")]) == 1


def test_an_unreadable_cache_is_refused_not_served(trained, tmp_path):
    cache = ModelCache(tmp_path / "cache")
    _save(cache, trained.model, "1")
    (cache.directory / "current" / "bundle" / "dropout.ubj").write_bytes(b"garbage")
    with pytest.raises(IncompatibleModelError, match="cannot load model bundle"):
        cache.load()
