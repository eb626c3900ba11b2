"""The model cache: what was saved loads back, and no crash or race leaves half an entry;
a restart serves the cached model at once, and the registry's first answer confirms it,
replaces it (the alias moved) or withdraws it (the alias was removed)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from models.bundle import IncompatibleModelError
from models.registry_store import RegistryLocation
from service.lifecycle import AliasNotSetError, ModelKeeper
from service.model_cache import ModelCache
from tests.support.registry import registry_settings

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


def test_holds_reads_the_description_only(trained, tmp_path):
    cache = ModelCache(tmp_path / "cache")
    assert not cache.holds(name="dropout-risk", alias="champion")
    _save(cache, trained.model, "1")
    assert cache.holds(name="dropout-risk", alias="champion")
    assert not cache.holds(name="dropout-risk", alias="challenger")
    assert not cache.holds(name="another-model", alias="champion")
    (cache.directory / "current" / "bundle" / "dropout.ubj").write_bytes(b"garbage")
    assert cache.holds(name="dropout-risk", alias="champion")  # load() is what refuses it
    (cache.directory / "current" / "served.json").write_text("{")
    assert not cache.holds(name="dropout-risk", alias="champion")


def test_without_leave_to_serve_synthetic_models_only_a_known_real_one_counts(trained, tmp_path):
    real = dataclasses.replace(trained.model, metadata={**trained.model.metadata})
    real.metadata.pop("synthetic_data", None)
    demo = dataclasses.replace(
        trained.model, metadata={**trained.model.metadata, "synthetic_data": True}
    )
    for model, strict in ((real, True), (demo, False)):
        cache = ModelCache(tmp_path / f"cache-{strict}")
        _save(cache, model, "1")
        assert cache.holds(name="dropout-risk", alias="champion", allow_synthetic=True)
        assert cache.holds(name="dropout-risk", alias="champion", allow_synthetic=False) is strict


# --- a restart from the cache ---------------------------------------------------------------


def _keeper(tracking_uri: str, cache: ModelCache, tmp_path) -> ModelKeeper:
    location = RegistryLocation(data_dir=tmp_path, mlflow_tracking_uri=tracking_uri)
    return ModelKeeper(location, alias="champion", cache=cache)


def test_a_restart_serves_the_cached_model_before_asking_the_registry(trained, registry, tmp_path):
    cache = ModelCache(tmp_path / "cache")
    _save(cache, trained.model, registry.version)
    keeper = _keeper(registry.tracking_uri, cache, tmp_path)
    served = keeper.start()
    assert served.version == registry.version
    assert keeper.status.checked_at is None  # no registry call was made
    assert "not checked yet" in keeper.status.error
    assert keeper.refresh() is served  # the registry confirms it: nothing reloads
    assert keeper.status.reachable and keeper.status.checked_at is not None


def test_an_alias_moved_while_the_service_was_down_is_followed_at_once(
    trained, registry, tmp_path
):
    cache = ModelCache(tmp_path / "cache")
    _save(cache, trained.model, "0")  # what served before the alias moved to the champion
    keeper = _keeper(registry.tracking_uri, cache, tmp_path)
    assert keeper.start().version == "0"
    keeper.start_polling(3600.0)  # an unconfirmed model is checked at once, not in an hour
    try:
        deadline = time.monotonic() + 60
        while keeper.current.version != registry.version:
            assert time.monotonic() < deadline, keeper.status
            time.sleep(0.05)
    finally:
        keeper.stop()
    assert keeper.status.reachable
    assert cache.load().version == registry.version  # the new version is cached in its turn


def test_an_alias_removed_while_the_service_was_down_withdraws_the_cached_model(trained, tmp_path):
    (tmp_path / "empty-registry").mkdir()
    empty = registry_settings(tmp_path / "empty-registry")  # nothing registered: no alias
    cache = ModelCache(tmp_path / "cache")
    _save(cache, trained.model, "1")
    keeper = _keeper(empty.tracking_uri, cache, tmp_path)
    assert keeper.start().version == "1"
    with pytest.raises(AliasNotSetError):
        keeper.refresh()
    assert keeper.current is None
    with pytest.raises(AliasNotSetError):  # and nothing is served until a promotion
        keeper.refresh()
    assert keeper.current is None


_WORKER_START = """
import sys
from pathlib import Path

import service.app  # everything a worker imports
from models.registry_store import RegistryLocation
from service.lifecycle import ModelKeeper
from service.model_cache import ModelCache

location = RegistryLocation(data_dir=Path(sys.argv[2]), mlflow_tracking_uri=sys.argv[1])
keeper = ModelKeeper(location, alias="champion", cache=ModelCache(Path(sys.argv[2])))
print(keeper.start().version, "mlflow" in sys.modules)
"""


@pytest.mark.server
def test_a_worker_starting_from_the_cache_does_not_import_mlflow(trained, registry, tmp_path):
    # Importing MLflow takes seconds; the registry's first check imports it afterwards.
    _save(ModelCache(tmp_path), trained.model, registry.version)
    started = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_WORKER_START), registry.tracking_uri, tmp_path],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    assert started.stdout.split() == [registry.version, "False"]
