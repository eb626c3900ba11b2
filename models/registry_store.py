"""Where registered bundles live, and how to fetch one: the meeting point of training and serving.

Training registers bundles and moves the ``champion`` alias; the service resolves the alias
and downloads the bundle. Neither imports the other (architecture.md), so what both need to
agree on (the store's location, the model's name, the bundle's place inside a version) is
here. ``MLFLOW_TRACKING_URI`` (MLflow's own variable) points tracking and registry at a
server; without it both live in a SQLite file under the data directory (spec/cli.md).

Importing this module is cheap: MLflow and the bundle's libraries (seconds of imports each)
are imported by the functions that use them, so that reading settings, or a service starting
from its model cache, does not wait for them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from models.bundle import RiskModel

MODEL_NAME = "dropout-risk"
"""Registered name of the model (both predictors in one bundle per version)."""
CHAMPION = "champion"
"""The alias of the version that serves."""

#: The splits a logged metric can be of: held-out test clients, client-grouped
#: cross-validation, and a later ``dropout-risk evaluate`` on another extract.
TEST, CROSS_VALIDATION, EVALUATION = "test", "cv", "evaluate"
#: How an interval's ends are named beside the point estimate (``auroc_low``).
INTERVAL_ENDS = ("low", "high")


@dataclass(frozen=True)
class MetricKey:
    """The name of one logged metric: ``<outcome>/<split>/<model>/<metric>``.

    Training writes these names and the service reads them back (``GET
    /v1/models/current``); this class is the one place that knows their shape.
    """

    outcome: str
    split: str
    model: str
    metric: str

    def __str__(self) -> str:
        return "/".join((self.outcome, self.split, self.model, self.metric))

    @classmethod
    def parse(cls, key: str) -> MetricKey | None:
        """The parts of ``key``, or None when it is not a metric name of this shape."""
        parts = key.split("/")
        return cls(*parts) if len(parts) == 4 and all(parts) else None


class RegistryLocation(BaseSettings):
    """Where the MLflow tracking and registry store is, and the registered model's name.

    Read from the environment (prefix ``DROPOUT_RISK_``; ``MLFLOW_TRACKING_URI`` as is).
    Training's and the service's settings extend it.
    """

    model_config = SettingsConfigDict(
        env_prefix="DROPOUT_RISK_", env_ignore_empty=True, populate_by_name=True
    )

    data_dir: Path = Path("data")
    mlflow_tracking_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "mlflow_tracking_uri")
    )
    model_name: str = Field(default=MODEL_NAME, min_length=1)

    @property
    def tracking_uri(self) -> str:
        """The tracking and registry URI in force."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}"

    @property
    def artifact_location(self) -> str | None:
        """Artifact root of new experiments; None where the tracking server decides.

        A database store has no artifact root of its own, and MLflow's default for one is
        ``./mlruns`` under whatever directory the process runs in: beside a SQLite file,
        else under the data directory, instead.
        """
        uri = self.tracking_uri
        scheme = uri.split(":", 1)[0].lower()
        if scheme in ("http", "https", "databricks", "file") or "://" not in uri:
            return None
        if scheme == "sqlite":
            database = Path(uri.split(":///", 1)[1]) if ":///" in uri else None
            if database is not None and str(database) not in ("", ":memory:"):
                return (database.parent / "mlartifacts").resolve().as_uri()
        return (self.data_dir / "mlartifacts").resolve().as_uri()


def registry_client(location: RegistryLocation) -> MlflowClient:
    """A client of the configured store (without touching MLflow's process-wide URIs)."""
    from mlflow import MlflowClient

    if not location.mlflow_tracking_uri:
        location.data_dir.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=location.tracking_uri, registry_uri=location.tracking_uri)


def alias_version(location: RegistryLocation, alias: str = CHAMPION) -> str | None:
    """The version ``alias`` points at, or None when the model or the alias does not exist.

    Raises:
        MlflowException: The registry could not be asked (unreachable, refused, broken).
    """
    from mlflow.exceptions import MlflowException

    try:
        found = registry_client(location).get_model_version_by_alias(location.model_name, alias)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise
    return str(found.version)


@contextmanager
def bundle_directory(location: RegistryLocation, version: str) -> Iterator[Path]:
    """The bundle of ``version`` downloaded into a temporary directory (removed on exit)."""
    import mlflow.artifacts

    from models.pyfunc import BUNDLE_ARTIFACT

    # The storage URI, not ``models:/name/version``: MLflow 3.17 resolves the latter against
    # the process-wide registry URI whatever ``registry_uri`` says.
    source = registry_client(location).get_model_version_download_uri(location.model_name, version)
    with tempfile.TemporaryDirectory() as scratch:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=source,
            dst_path=scratch,
            tracking_uri=location.tracking_uri,
            registry_uri=location.tracking_uri,
        )
        yield Path(local) / "artifacts" / BUNDLE_ARTIFACT


def download_model(location: RegistryLocation, version: str) -> RiskModel:
    """Download and load the bundle of ``version``.

    Raises:
        MlflowException: The registry or artifact store could not deliver it.
        models.bundle.IncompatibleModelError: The bundle cannot be served by this code.
    """
    from models.bundle import RiskModel

    with bundle_directory(location, version) as directory:
        return RiskModel.load(directory)


def held_out_metrics(
    location: RegistryLocation, version: str
) -> tuple[str | None, dict[str, dict[str, float]]]:
    """The run of ``version`` and the held-out (test) metrics of its XGBoost predictors.

    Training logs them under :class:`MetricKey` names; they come back as
    ``{outcome: {metric: value}}`` (an interval's ends as ``<metric>_low`` and ``_high``).

    Raises:
        MlflowException: The registry could not be asked.
    """
    tracking = registry_client(location)
    run_id = tracking.get_model_version(location.model_name, version).run_id
    if not run_id:
        return None, {}
    logged = tracking.get_run(run_id).data.metrics
    metrics: dict[str, dict[str, float]] = {}
    for name, value in logged.items():
        key = MetricKey.parse(name)
        if key is not None and (key.split, key.model) == (TEST, "xgboost"):
            metrics.setdefault(key.outcome, {})[key.metric] = float(value)
    return run_id, metrics
