"""The served model's lifecycle: load the alias's version, follow the alias, survive outages.

A request reads :attr:`ModelKeeper.current` once and uses that :class:`ServedModel` for
everything it does, so swapping in a new version (an atomic reference assignment) can never
mix two versions in one response. When the registry cannot be reached, or the alias's
version cannot be served (corrupted, or trained on another feature specification), the
keeper keeps the model it has and records why, for ``/ready``.

Every model that loads is also written to a :class:`~service.model_cache.ModelCache`, so
that a restart serves the last model at once, without waiting for the registry (or for
MLflow's import, seconds by itself). At start-up (:meth:`ModelKeeper.start`):

* the cache holds a model of this name and alias that this code can load: it serves at
  once, *unconfirmed* (``/ready`` says ``degraded``: the registry is not checked yet), and
  the poller's first check, made at once, confirms it, switches to the alias's version if
  the alias moved while the service was down, or withdraws it if the registry answers that
  the alias is not set (an alias removed on purpose withdraws the model). While the registry
  cannot be reached the cached model keeps serving, degraded;
* otherwise the alias's version is loaded from the registry: it serves; or the registry
  answers but the alias is not set (a new deployment before its first promotion): the
  service starts not ready and keeps polling; or the registry fails (unreachable, version
  refused): the service refuses to start (:class:`StartupRefusedError`), with one line
  saying why.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from models.bundle import IncompatibleModelError, RiskModel
from models.registry_store import (
    RegistryLocation,
    alias_version,
    download_model,
    held_out_metrics,
)
from service.model_cache import CachedModel, ModelCache
from service.periodic import PeriodicTask

_log = logging.getLogger(__name__)

_UNCONFIRMED = "not checked yet: serving the cached model until the registry confirms it"

#: MLflow's HTTP client retries 7 times with growing back-off and waits 120 s per request by
#: default: about four minutes before an unreachable registry server is reported. A service
#: starting (or polling) needs the answer in seconds; set the variables to override.
REGISTRY_REQUEST_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


#: Batches of at least this many requests are predicted on the scoring threads; smaller ones
#: on one: waking a team of threads costs more than a few rows' trees (docs/speed.md).
THREADED_BATCH_ROWS = 4


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
        allow_synthetic: bool = True,
        scoring_threads: int = 1,
    ) -> None:
        """Follow ``alias`` of ``location.model_name``; nothing is loaded until :meth:`start`.

        With ``allow_synthetic`` false, a version trained on a synthetic cohort (metadata
        ``synthetic_data``) is refused as an incompatible one would be: a demo model must not
        score real clients by accident.

        Args:
            location: The registry to read.
            alias: The alias whose version serves (``champion``).
            cache: Where each loaded model is kept for restarts without the registry.
            on_change: Called with each newly served model (metrics, logs).
            scoring_threads: Threads each served model's boosters may use for a batch of
                at least :data:`THREADED_BATCH_ROWS` requests (:meth:`RiskModel.use_threads`).
        """
        self._location = location
        self._alias = alias
        self._cache = cache
        self._on_change = on_change
        self._allow_synthetic = allow_synthetic
        self._scoring_threads = scoring_threads
        self._current: ServedModel | None = None
        self._status = RegistryStatus(reachable=False, checked_at=None, error="not checked yet")
        self._unconfirmed = False  # serving a cached model the registry has not confirmed
        self._refreshing = threading.Lock()
        self._poller: PeriodicTask | None = None

    @property
    def current(self) -> ServedModel | None:
        """The model serving now (None until one has loaded); read it once per request."""
        return self._current

    @property
    def status(self) -> RegistryStatus:
        """The outcome of the last registry check."""
        return self._status

    def start(self) -> ServedModel | None:
        """Serve at start-up: the cached model of the alias at once, else the alias's version.

        Returns:
            The model serving, or None when the cache holds none and the registry answers
            that the alias is not set yet (the service starts not ready; polling loads the
            version once promoted).

        Raises:
            StartupRefusedError: The cache holds no usable model and the registry could not
                supply one; the message is one line, for the operator.
        """
        for variable, value in REGISTRY_REQUEST_DEFAULTS.items():
            os.environ.setdefault(variable, value)  # MLflow reads them at each request
        cached, cache_problem = self._usable_cache()
        if cached is not None:
            with self._refreshing:
                self._unconfirmed = True
                self._status = RegistryStatus(False, None, _UNCONFIRMED)
                self._serve(_from_cache(cached))
            _log.info(
                "serving the cached model until the registry confirms it",
                extra={
                    "event": "model_from_cache",
                    "model_version": cached.version,
                    "cached_at": cached.cached_at.isoformat(),
                },
            )
            return self._current
        try:
            return self.refresh()
        except AliasNotSetError:
            return None
        except RegistryUnavailableError as error:
            message = f"no model to serve: {error}; and {cache_problem}"
            raise StartupRefusedError(message) from error

    def _usable_cache(self) -> tuple[CachedModel | None, str]:
        """The cached model of this name and alias, or None and why there is none."""
        if self._cache is None:
            return None, "no model cache is configured"
        try:
            cached = self._cache.load()
            if cached is not None:
                self._check_provenance(cached.model)
        except IncompatibleModelError as error:
            problem = f"the cached model cannot be served: {_one_line(error)}"
        else:
            wanted = (self._location.model_name, self._alias)
            if cached is None:
                return None, f"no model is cached in {self._cache.directory}"
            if (cached.name, cached.alias) == wanted:
                return cached, ""
            problem = (
                f"the cached model is {cached.name!r}@{cached.alias}, "
                f"not {wanted[0]!r}@{wanted[1]}"
            )
        _log.warning("cached model not used", extra={"event": "cache_unusable", "error": problem})
        return None, problem

    def refresh(self) -> ServedModel | None:
        """Check the alias and switch to its version if it moved; return the model serving.

        Raises:
            AliasNotSetError: No version carries the alias.
            ModelRefusedError: The alias's version cannot be served by this code.
            RegistryUnavailableError: The registry could not be asked or could not deliver
                the version. In every case the model serving before keeps serving, except
                an unconfirmed cached model when the alias is not set: it is withdrawn.
        """
        from mlflow.exceptions import MlflowException  # here: importing MLflow takes seconds

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
                if isinstance(error, AliasNotSetError) and self._unconfirmed:
                    self._withdraw(str(error))
                raise
            self._unconfirmed = False
            self._status = RegistryStatus(True, checked_at)
            return self._current

    def _withdraw(self, reason: str) -> None:
        """Stop serving the unconfirmed cached model (the registry has no version to serve)."""
        withdrawn, self._current, self._unconfirmed = self._current, None, False
        _log.warning(
            "cached model withdrawn: the registry has no version under the alias",
            extra={
                "event": "model_withdrawn",
                "model_version": withdrawn.version if withdrawn else None,
                "error": reason,
            },
        )

    def _check_provenance(self, model: RiskModel) -> None:
        """Refuse a model trained on synthetic data unless allowed.

        Raises:
            IncompatibleModelError: The model was trained on synthetic data.
        """
        if not self._allow_synthetic and model.metadata.get("synthetic_data"):
            raise IncompatibleModelError(
                "it was trained on synthetic data; start with --allow-synthetic-model "
                "(a demo or a test) or promote a model trained on the clinic's records"
            )

    def _switch_to(self, version: str) -> None:
        model = download_model(self._location, version)
        self._check_provenance(model)
        run_id, metrics = held_out_metrics(self._location, version)
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
        # Before any request can score: batches of a few requests on the scoring threads.
        served.model.use_threads(self._scoring_threads, from_rows=THREADED_BATCH_ROWS)
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
        """Check the alias every ``interval_seconds`` in a daemon thread until :meth:`stop`.

        An unconfirmed cached model is checked at once, then every ``interval_seconds``.
        """
        if self._poller is not None:
            return
        self._poller = PeriodicTask(
            "model-poller",
            self._poll_once,
            interval_seconds=interval_seconds,
            on_error=lambda _: _log.exception(
                "registry check crashed", extra={"event": "poller_error"}
            ),
        )
        self._poller.start(first_delay_seconds=0.0 if self._unconfirmed else None)

    def stop(self) -> None:
        """Stop polling (waits for a reload in progress to finish)."""
        if self._poller is not None:
            self._poller.stop(timeout_seconds=30)
            self._poller = None

    def _poll_once(self) -> None:
        try:
            self.refresh()
        except RegistryUnavailableError as error:
            _log.warning(
                "registry check failed; keeping the served model",
                extra={"event": "registry_unavailable", "error": str(error)},
            )


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
