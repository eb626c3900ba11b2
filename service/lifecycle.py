"""The served model's lifecycle: load the alias's version, follow the alias, survive outages.

A request reads :attr:`ModelKeeper.current` once and uses that :class:`ServedModel` for
everything it does, so swapping in a new version (an atomic reference assignment) can never
mix two versions in one response. When the registry cannot be reached, or the alias's
version cannot be served (corrupted, or trained on another feature specification), the
keeper keeps the model it has and records why, for ``/ready``.

Every model that loads is also written to a :class:`~service.model_cache.ModelCache`, so
that a restart while the registry is unreachable serves the last model rather than nothing
(``/ready`` says ``degraded``). At start-up (:meth:`ModelKeeper.start`):

* the alias's version loads: it serves;
* the registry answers but the alias is not set (a new deployment before its first
  promotion): the service starts not ready and keeps polling; the cache is not used, since
  an alias removed on purpose withdraws the model;
* anything else (registry unreachable, version refused): the cached model serves, if there
  is one this code can load; otherwise the service refuses to start
  (:class:`StartupRefusedError`), with one line saying why.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mlflow.exceptions import MlflowException

from models.bundle import IncompatibleModelError, RiskModel
from models.registry_store import (
    RegistryLocation,
    alias_version,
    download_model,
    registry_client,
)
from service.model_cache import CachedModel, ModelCache

_log = logging.getLogger(__name__)

#: MLflow's HTTP client retries 7 times with growing back-off and waits 120 s per request by
#: default: about four minutes before an unreachable registry server is reported. A service
#: starting (or polling) needs the answer in seconds; set the variables to override.
REGISTRY_REQUEST_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


@dataclass(frozen=True)
class ServedModel:
    """A loaded bundle and what identifies and describes it."""

    model: RiskModel
    name: str
    version: str
    alias: str
    loaded_at: datetime
    run_id: str | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class RegistryStatus:
    """What the last look at the registry found."""

    reachable: bool
    checked_at: datetime | None
    error: str | None = None


class RegistryUnavailableError(Exception):
    """The registry could not be asked, or could not deliver the alias's version."""


class AliasNotSetError(RegistryUnavailableError):
    """The registry answered, but no version carries the alias (nothing promoted yet)."""


class ModelRefusedError(RegistryUnavailableError):
    """The alias's version was delivered but cannot be served (corrupted or incompatible)."""


class StartupRefusedError(RuntimeError):
    """No model to serve at start-up: the registry failed and no usable model is cached."""


class ModelKeeper:
    """Holds the served model and replaces it when the alias moves."""

    def __init__(
        self,
        location: RegistryLocation,
        *,
        alias: str,
        cache: ModelCache | None = None,
        on_change: Callable[[ServedModel], None] | None = None,
    ) -> None:
        """Follow ``alias`` of ``location.model_name``; nothing is loaded until :meth:`start`.

        Args:
            location: The registry to read.
            alias: The alias whose version serves (``champion``).
            cache: Where each loaded model is kept for restarts without the registry.
            on_change: Called with each newly served model (metrics, logs).
        """
        self._location = location
        self._alias = alias
        self._cache = cache
        self._on_change = on_change
        self._current: ServedModel | None = None
        self._status = RegistryStatus(reachable=False, checked_at=None, error="not checked yet")
        self._refreshing = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    @property
    def current(self) -> ServedModel | None:
        """The model serving now (None until one has loaded); read it once per request."""
        return self._current

    @property
    def status(self) -> RegistryStatus:
        """The outcome of the last registry check."""
        return self._status

    def start(self) -> ServedModel | None:
        """Load the model to serve at start-up: the alias's version, else the cached one.

        Returns:
            The model serving, or None when the registry answers but the alias is not set
            yet (the service starts not ready; polling loads the version once promoted).

        Raises:
            StartupRefusedError: The registry could not supply a model and none usable is
                cached; the message is one line, for the operator.
        """
        for variable, value in REGISTRY_REQUEST_DEFAULTS.items():
            os.environ.setdefault(variable, value)  # MLflow reads them at each request
        try:
            return self.refresh()
        except AliasNotSetError:
            return None
        except RegistryUnavailableError as error:
            registry_error = str(error)
        try:
            cached = self._cache.load() if self._cache is not None else None
        except IncompatibleModelError as error:
            raise StartupRefusedError(
                f"no model to serve: {registry_error}; and the cached model cannot be "
                f"served: {_one_line(error)}"
            ) from error
        if cached is None:
            where = self._cache.directory if self._cache is not None else "(no cache configured)"
            raise StartupRefusedError(
                f"no model to serve: {registry_error}; and no model is cached in {where}"
            )
        if (cached.name, cached.alias) != (self._location.model_name, self._alias):
            raise StartupRefusedError(
                f"no model to serve: {registry_error}; and the cached model is "
                f"{cached.name!r}@{cached.alias}, not {self._location.model_name!r}@{self._alias}"
            )
        with self._refreshing:
            self._serve(_from_cache(cached))
        _log.warning(
            "serving the cached model; the registry could not supply one",
            extra={
                "event": "model_from_cache",
                "model_version": cached.version,
                "cached_at": cached.cached_at.isoformat(),
                "error": registry_error,
            },
        )
        return self._current

    def refresh(self) -> ServedModel | None:
        """Check the alias and switch to its version if it moved; return the model serving.

        Raises:
            AliasNotSetError: No version carries the alias.
            ModelRefusedError: The alias's version cannot be served by this code.
            RegistryUnavailableError: The registry could not be asked or could not deliver
                the version. In every case the model serving before keeps serving.
        """
        with self._refreshing:  # one reload at a time: the poller and the admin endpoint
            checked_at = datetime.now(UTC)
            version = None
            try:
                version = alias_version(self._location, self._alias)
                if version is None:
                    raise AliasNotSetError(
                        f"{self._location.model_name!r} has no {self._alias!r} version yet"
                    )
                current = self._current
                if current is None or current.version != version:
                    self._switch_to(version)
            except IncompatibleModelError as error:
                message = f"version {version} refused: {_one_line(error)}"
                self._status = RegistryStatus(False, checked_at, message)
                raise ModelRefusedError(message) from error
            except (MlflowException, OSError) as error:
                self._status = RegistryStatus(False, checked_at, _one_line(error))
                raise RegistryUnavailableError(self._status.error) from error
            except RegistryUnavailableError as error:
                self._status = RegistryStatus(False, checked_at, str(error))
                raise
            self._status = RegistryStatus(True, checked_at)
            return self._current

    def _switch_to(self, version: str) -> None:
        model = download_model(self._location, version)
        run_id, metrics = _run_metrics(self._location, version)
        served = ServedModel(
            model=model,
            name=self._location.model_name,
            version=version,
            alias=self._alias,
            loaded_at=datetime.now(UTC),
            run_id=run_id,
            metrics=metrics,
        )
        self._serve(served)
        self._save_to_cache(served)

    def _serve(self, served: ServedModel) -> None:
        previous = self._current
        self._current = served  # the swap: one reference assignment, atomic
        _log.info(
            "model switched",
            extra={
                "event": "model_switched",
                "model_version": served.version,
                "previous_version": previous.version if previous else None,
            },
        )
        if self._on_change is not None:
            self._on_change(served)

    def _save_to_cache(self, served: ServedModel) -> None:
        if self._cache is None:
            return
        try:
            self._cache.save(
                served.model,
                name=served.name,
                version=served.version,
                alias=served.alias,
                run_id=served.run_id,
                metrics=served.metrics,
            )
        except Exception as error:  # the model serves all the same: never fail the switch
            # for the cache, which only a restart without the registry would miss.
            _log.warning(
                "could not cache the served model",
                extra={"event": "model_cache_failed", "error": _one_line(error)},
            )

    def start_polling(self, interval_seconds: float) -> None:
        """Check the alias every ``interval_seconds`` in a daemon thread until :meth:`stop`."""
        if self._poller is not None:
            return
        self._stop.clear()
        self._poller = threading.Thread(
            target=self._poll, args=(interval_seconds,), name="model-poller", daemon=True
        )
        self._poller.start()

    def stop(self) -> None:
        """Stop polling (waits for a reload in progress to finish)."""
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=30)
            self._poller = None

    def _poll(self, interval_seconds: float) -> None:
        while not self._stop.wait(interval_seconds):
            try:
                self.refresh()
            except RegistryUnavailableError as error:
                _log.warning(
                    "registry check failed; keeping the served model",
                    extra={"event": "registry_unavailable", "error": str(error)},
                )
            except Exception:  # the poller must outlive any surprise; it is logged
                _log.exception("registry check crashed", extra={"event": "poller_error"})


def _run_metrics(
    location: RegistryLocation, version: str
) -> tuple[str | None, dict[str, dict[str, float]]]:
    """The held-out (test) metrics of the XGBoost predictors the version's run logged."""
    tracking = registry_client(location)
    run_id = tracking.get_model_version(location.model_name, version).run_id
    if not run_id:
        return None, {}
    logged = tracking.get_run(run_id).data.metrics
    metrics: dict[str, dict[str, float]] = {}
    for key, value in logged.items():
        parts = key.split("/")
        if len(parts) == 4 and parts[1:3] == ["test", "xgboost"]:
            metrics.setdefault(parts[0], {})[parts[3]] = float(value)
    return run_id, metrics


def _from_cache(cached: CachedModel) -> ServedModel:
    return ServedModel(
        model=cached.model,
        name=cached.name,
        version=cached.version,
        alias=cached.alias,
        loaded_at=datetime.now(UTC),
        run_id=cached.run_id,
        metrics=cached.metrics,
    )


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
