"""The served model's lifecycle: load the alias's version, follow the alias, survive outages.

A request reads :attr:`ModelKeeper.current` once and uses that :class:`ServedModel` for
everything it does, so swapping in a new version (an atomic reference assignment) can never
mix two versions in one response. When the registry cannot be reached the keeper keeps the
model it has and records why, for ``/ready``.
"""

from __future__ import annotations

import logging
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

_log = logging.getLogger(__name__)


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


class ModelKeeper:
    """Holds the served model and replaces it when the alias moves."""

    def __init__(
        self,
        location: RegistryLocation,
        *,
        alias: str,
        on_change: Callable[[ServedModel], None] | None = None,
    ) -> None:
        """Follow ``alias`` of ``location.model_name``; nothing is loaded until :meth:`refresh`.

        Args:
            location: The registry to read.
            alias: The alias whose version serves (``champion``).
            on_change: Called with each newly served model (metrics, logs).
        """
        self._location = location
        self._alias = alias
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

    def refresh(self) -> ServedModel | None:
        """Check the alias and switch to its version if it moved; return the model serving.

        Raises:
            RegistryUnavailableError: The registry could not be asked or the new version not
                loaded; the model serving before keeps serving.
        """
        with self._refreshing:  # one reload at a time: the poller and the admin endpoint
            checked_at = datetime.now(UTC)
            try:
                version = alias_version(self._location, self._alias)
                if version is None:
                    raise RegistryUnavailableError(
                        f"{self._location.model_name!r} has no {self._alias!r} version yet"
                    )
                current = self._current
                if current is None or current.version != version:
                    self._switch_to(version)
            except (MlflowException, IncompatibleModelError, OSError) as error:
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
        previous = self._current
        self._current = served  # the swap: one reference assignment, atomic
        _log.info(
            "model switched",
            extra={
                "event": "model_switched",
                "model_version": version,
                "previous_version": previous.version if previous else None,
            },
        )
        if self._on_change is not None:
            self._on_change(served)

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


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
