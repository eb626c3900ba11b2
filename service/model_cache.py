"""The last model the service loaded, kept on disk so a restart can serve without the registry.

Layout of the cache directory::

    current -> entry-<id>/      a symbolic link, replaced atomically
    entry-<id>/bundle/          the bundle (RiskModel.save)
    entry-<id>/served.json      name, version, alias, run id, metrics, when cached
    .lock                       taken by every reader and writer

An entry is written completely (and synced) under a name nothing points at, then becomes the
cache in one step, by renaming a new link over ``current``; a crash at any moment leaves the
old entry or the new one, never half of one. Every uvicorn worker runs its own keeper and
writes the cache when it loads a model, so writers take turns on an exclusive ``flock`` and
readers take a shared one (so no writer removes an entry being read). POSIX only.

:meth:`ModelCache.holds` reads the description alone: a start-up check that need not import
the bundle's libraries (XGBoost and what it imports take seconds), which are imported when a
model is first saved or loaded.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.bundle import RiskModel

_CURRENT = "current"
_LOCK = ".lock"
_ENTRY_PREFIX = "entry-"
_DESCRIPTION = "served.json"
_BUNDLE = "bundle"
CACHE_FORMAT = 1


@dataclass(frozen=True)
class CachedModel:
    """A bundle read back from the cache, with what identified it when it was cached."""

    model: RiskModel
    name: str
    version: str
    alias: str
    cached_at: datetime
    run_id: str | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


class ModelCache:
    """One cached model (the last one saved) in a directory of its own."""

    def __init__(self, directory: Path) -> None:
        """Keep the cache in ``directory`` (created on the first save)."""
        self.directory = directory

    def save(
        self,
        model: RiskModel,
        *,
        name: str,
        version: str,
        alias: str,
        run_id: str | None,
        metrics: dict[str, dict[str, float]],
    ) -> None:
        """Replace the cached model with ``model``, atomically.

        Raises:
            OSError: The cache could not be written (the previous entry stays).
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._locked(fcntl.LOCK_EX):
            entry = self.directory / f"{_ENTRY_PREFIX}{uuid.uuid4().hex}"
            try:
                model.save(entry / _BUNDLE)
                description = {
                    "format": CACHE_FORMAT,
                    "name": name,
                    "version": version,
                    "alias": alias,
                    "run_id": run_id,
                    "metrics": metrics,
                    # So that `serve` can tell, without loading the bundle, whether a demo
                    # model would need --allow-synthetic-model.
                    "synthetic_data": bool(model.metadata.get("synthetic_data")),
                    "cached_at": datetime.now(UTC).isoformat(),
                }
                (entry / _DESCRIPTION).write_text(json.dumps(description, indent=2) + "\n")
                _sync_tree(entry)
                link = self.directory / f".{_CURRENT}-{uuid.uuid4().hex}"
                link.symlink_to(entry.name)  # relative: the directory may move
                link.replace(self.directory / _CURRENT)  # the one step that switches entries
                _sync(self.directory)
            except BaseException:
                shutil.rmtree(entry, ignore_errors=True)
                raise
            self._remove_all_but(entry.name)

    def holds(self, *, name: str, alias: str, allow_synthetic: bool = True) -> bool:
        """Whether the cache describes a model of ``name`` and ``alias`` in this format
        (and, unless ``allow_synthetic``, one known not to be trained on synthetic data).

        Reads the description only, not the bundle: a cheap check, which a bundle broken
        since it was cached passes (:meth:`load` refuses it).
        """
        if not (self.directory / _CURRENT).is_symlink():
            return False
        try:
            with self._locked(fcntl.LOCK_SH):
                _entry, description = self._current()
        except (OSError, ValueError):
            return False
        return (
            isinstance(description, dict)
            and description.get("format") == CACHE_FORMAT
            and (description.get("name"), description.get("alias")) == (name, alias)
            # A cache written before the mark was kept says nothing: not known to be real.
            and (allow_synthetic or description.get("synthetic_data") is False)
        )

    def load(self) -> CachedModel | None:
        """The cached model, or None when nothing was ever cached.

        Raises:
            IncompatibleModelError: The cache holds something this code cannot serve
                (another feature specification, another format, unreadable files).
        """
        from models.bundle import IncompatibleModelError, RiskModel

        if not (self.directory / _CURRENT).is_symlink():
            return None
        try:
            with self._locked(fcntl.LOCK_SH):
                entry, description = self._current()
                if description.get("format") != CACHE_FORMAT:
                    raise IncompatibleModelError(
                        f"cache format {description.get('format')!r} is not supported"
                    )
                return CachedModel(
                    model=RiskModel.load(entry / _BUNDLE),
                    name=str(description["name"]),
                    version=str(description["version"]),
                    alias=str(description["alias"]),
                    cached_at=datetime.fromisoformat(description["cached_at"]),
                    run_id=description.get("run_id"),
                    metrics=description.get("metrics") or {},
                )
        except IncompatibleModelError:
            raise
        except (OSError, KeyError, TypeError, ValueError) as error:
            raise IncompatibleModelError(
                f"the cached model in {self.directory} is unreadable: {error}"
            ) from error

    def _current(self) -> tuple[Path, Any]:
        """The current entry and its description, as parsed (call with the lock held)."""
        entry = self.directory / os.readlink(self.directory / _CURRENT)
        return entry, json.loads((entry / _DESCRIPTION).read_text())

    @contextmanager
    def _locked(self, operation: int) -> Iterator[None]:
        with (self.directory / _LOCK).open("a") as lock:
            fcntl.flock(lock, operation)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _remove_all_but(self, keep: str) -> None:
        """Remove entries and stray links other than ``keep`` (leftovers of earlier saves)."""
        for path in self.directory.iterdir():
            if path.name in (keep, _CURRENT, _LOCK):
                continue
            if path.is_symlink() or path.is_file():
                path.unlink(missing_ok=True)
            elif path.name.startswith(_ENTRY_PREFIX):
                shutil.rmtree(path, ignore_errors=True)


def _sync_tree(directory: Path) -> None:
    """fsync every file under ``directory`` and the directories themselves.

    Without it a power cut after the link's rename could leave the link pointing at files
    whose contents never reached the disk.
    """
    for root, _dirs, files in os.walk(directory):
        for name in files:
            _sync(Path(root) / name)
        _sync(Path(root))


def _sync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
