"""Training on a Dask cluster: the pipeline of :mod:`training.pipeline` with the data spread out.

``dropout-risk train --engine dask [--scheduler ADDRESS]``. The extract is read in
partitions from Parquet and featurised on the workers (:mod:`training.partitions`); each
booster is trained with XGBoost's own Dask interface (``xgboost.dask``): early stopping on
the validation clients, then a refit on fit and validation clients together with the chosen
rounds scaled up (:func:`training.fitting.refit_rounds`), unless the cohort is large enough
to keep the early-stopped booster (:func:`training.fitting.refits`), as on one machine. Calibration
and risk levels come from margins predicted on the cluster, of which only the vectors are
gathered (:func:`training.fitting.calibrated_outcome`). The held-out test clients
(:func:`training.fitting.is_test_client`, the same clients as on one machine) are gathered
and evaluated by :func:`training.held_out.evaluate_held_out`, so the result registers
through the same promotion gate.

Not run on this engine (they would refit the model many times): client-grouped
cross-validation, leave-one-clinic-out and the logistic-regression baseline. The drift
reference profile is taken from the calibration clients (about 1 in 8 training clients).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import xgboost as xgb
from distributed import Client, LocalCluster
from xgboost import dask as dxgb

from features.engineering import FEATURE_NAMES
from features.vocabulary import OUTCOMES
from models.estimators import up_to_best_iteration
from models.profile import reference_profile
from training.fitting import (
    FittedOutcome,
    TrainingConfig,
    calibrated_outcome,
    refit_rounds,
    refits,
)
from training.held_out import evaluate_held_out
from training.partitions import (
    PARTS,
    PartitionedExtract,
    examples_of,
    parquet_files,
    read_partitions,
)
from training.pipeline import TrainingResult, assemble_model

#: What this engine leaves out, as the run's parameters and the closing report state it.
NOT_RUN = "cross-validation, leave-one-clinic-out, logistic-regression baseline"
#: Seconds to wait for a remote scheduler before giving up.
CONNECT_TIMEOUT = 10


class ClusterUnavailable(ConnectionError):
    """The Dask scheduler cannot be reached."""


@dataclass(frozen=True)
class ClusterRun:
    """A training run on a cluster: the result and what the run record needs.

    Attributes:
        result: as :func:`training.pipeline.train` returns it (no baselines, no CV tables).
        config: the options as run (cross-validation and leave-one-clinic-out off).
        summary: the data fingerprint without file hashes.
        files: every Parquet file read, by the name the fingerprint gives it.
        partitions: how many partitions the extract was spread over.
    """

    result: TrainingResult
    config: TrainingConfig
    summary: dict[str, object]
    files: dict[str, Path]
    partitions: int


@contextmanager
def dask_client(scheduler: str | None) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler``, or of a local cluster sized to the machine.

    A local cluster (one worker process per core, memory shared out evenly) is closed on exit.

    Raises:
        ClusterUnavailable: the scheduler does not answer within :data:`CONNECT_TIMEOUT`.
    """
    if scheduler is None:
        with (
            LocalCluster(
                # No dashboard, and the scheduler's HTTP endpoint (which Dask opens on port
                # 8787 even then) on a free loopback port: runs side by side don't collide.
                dashboard_address="127.0.0.1:0",
                scheduler_kwargs={"dashboard": False},
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as error:
        raise ClusterUnavailable(
            f"cannot reach the Dask scheduler at {scheduler}: {error}"
        ) from error
    with client:
        yield client


def train_on_cluster(
    clients_path: Path,
    sessions_path: Path,
    *,
    config: TrainingConfig,
    scheduler: str | None = None,
    clients_per_partition: int = 25_000,
    progress: Callable[[str], None] = lambda _: None,
) -> ClusterRun:
    """Train and evaluate both predictors on a Dask cluster from a Parquet extract.

    Raises:
        ContractError: a table is not Parquet, cannot be read, or breaks the data contract.
        ClusterUnavailable: the scheduler cannot be reached.
    """
    files = parquet_files(clients_path) | parquet_files(sessions_path)
    config = dataclasses.replace(config, cv_folds=0, leave_one_clinic_out=False)
    progress(f"dask engine: not run: {NOT_RUN}")
    with dask_client(scheduler) as client:
        progress("reading, validating and featurising the extract in partitions")
        extract = read_partitions(
            client, clients_path, sessions_path, config=config,
            clients_per_partition=clients_per_partition,
        )  # fmt: skip
        result = _train(client, extract, config=config, progress=progress)
    return ClusterRun(
        result=result,
        config=config,
        summary=extract.summary,
        files=files,
        partitions=extract.partitions,
    )


def _train(
    client: Client,
    extract: PartitionedExtract,
    *,
    config: TrainingConfig,
    progress: Callable[[str], None],
) -> TrainingResult:
    landmarks = extract.landmarks
    progress("gathering the held-out test clients")
    test = landmarks[landmarks["test"]].compute()
    test = test.sort_values(["example_client_id", "example_as_of_session"], kind="stable")
    test = test.reset_index(drop=True)
    fitted: dict[str, FittedOutcome] = {}
    metrics, tables, predictions, importance, held_out = {}, {}, {}, {}, {}
    for outcome in OUTCOMES:
        progress(f"{outcome}: fitting on the cluster")
        fitted[outcome] = fit_on_cluster(client, landmarks, outcome, config=config)
        labelled = test[outcome].notna().to_numpy()
        progress(f"{outcome}: evaluating on {labelled.sum():,} held-out landmarks")
        evaluation = evaluate_held_out(
            fitted[outcome],
            test.loc[labelled, list(FEATURE_NAMES)].to_numpy(dtype=float),
            test.loc[labelled, outcome].to_numpy(dtype=float),
            examples_of(test.loc[labelled]).reset_index(drop=True),
            config=config,
        )
        held_out[outcome] = evaluation.held_out
        fitted[outcome] = evaluation.fitted  # with what its risk levels meant on them
        metrics[outcome] = {"test": evaluation.metrics}
        predictions[outcome] = evaluation.predictions
        tables |= evaluation.tables
        importance[outcome] = evaluation.importance
    progress("profiling the calibration clients (the reference for drift monitoring)")
    sample = landmarks[~landmarks["test"] & (landmarks["part"] == PARTS.index("calibration"))]
    rows = sample[list(FEATURE_NAMES)].compute().to_numpy(dtype=float)
    reference = reference_profile(rows, {o: fitted[o].model.probability(rows) for o in OUTCOMES})
    model = assemble_model(
        fitted,
        config=config,
        counts=extract.counts,
        reference=reference,
        engine={"name": "dask", "partitions": extract.partitions, "not_run": NOT_RUN},
    )
    return TrainingResult(
        model, {}, metrics, tables, extract.counts, predictions, importance, held_out
    )


def fit_on_cluster(
    client: Client, landmarks: dd.DataFrame, outcome: str, *, config: TrainingConfig
) -> FittedOutcome:
    """Booster, calibrator and risk levels of ``outcome`` fitted on the training clients.

    The steps of :func:`training.fitting.fit_outcome`, with the rows left on the workers.
    """
    rows = landmarks[~landmarks["test"] & landmarks[outcome].notnull()]
    params = config.booster.params(outcome)
    with xgb.config_context(verbosity=0):
        return _fit(client, params, outcome, config=config, rows=rows)


def _fit(
    client: Client, params: dict, outcome: str, *, config: TrainingConfig, rows: dd.DataFrame
) -> FittedOutcome:
    fit, validation, calibration = (rows[rows["part"] == PARTS.index(part)] for part in PARTS)
    learnt = rows[rows["part"] != PARTS.index("calibration")]
    stopped = dxgb.train(
        client,
        params,
        _matrix(client, fit, outcome),
        num_boost_round=config.booster.max_rounds,
        evals=[(_matrix(client, validation, outcome), "validation")],
        early_stopping_rounds=config.booster.early_stopping_rounds,
        verbose_eval=False,
    )["booster"]
    fitted_rows, learnt_rows, fit_rate, learnt_rate = client.compute(
        [fit.shape[0], learnt.shape[0], fit[outcome].mean(), learnt[outcome].mean()], sync=True
    )
    if refits(int(fitted_rows), config=config):
        rounds = refit_rounds(stopped, fitted=int(fitted_rows), learnt=int(learnt_rows))
        booster = dxgb.train(
            client, params, _matrix(client, learnt, outcome), num_boost_round=rounds,
            verbose_eval=False,
        )["booster"]  # fmt: skip
        booster.set_attr(rounds=str(rounds), outcome=outcome)
        base_rate = learnt_rate
    else:
        booster = up_to_best_iteration(stopped, outcome=outcome)
        base_rate = fit_rate
    *calibration_rows, calibration_clients = _margins(client, booster, calibration, outcome)
    *validation_rows, validation_clients = _margins(client, booster, validation, outcome)
    model = calibrated_outcome(
        outcome,
        booster,
        calibration=tuple(calibration_rows),
        validation=tuple(validation_rows),
        clients=np.concatenate([validation_clients, calibration_clients]),
        base_rate=float(base_rate),
        budget=config.alert_budget,
    )
    return FittedOutcome(model=model, logistic=None)


def _matrix(client: Client, rows: dd.DataFrame, outcome: str) -> dxgb.DaskDMatrix:
    return dxgb.DaskDMatrix(
        client,
        rows[list(FEATURE_NAMES)],
        rows[outcome],
        missing=np.nan,
        feature_names=list(FEATURE_NAMES),
    )


def _margins(
    client: Client, booster: xgb.Booster, rows: dd.DataFrame, outcome: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Margins predicted on the workers, the labels and client ids of ``rows``, gathered."""
    margin = dxgb.inplace_predict(
        client, booster, rows[list(FEATURE_NAMES)], predict_type="margin", missing=np.nan
    )
    margin, labels, clients = client.compute(
        [margin, rows[outcome], rows["example_client_id"]], sync=True
    )
    return (
        np.asarray(margin, dtype=float).ravel(),
        np.asarray(labels, dtype=float),
        np.asarray(clients, dtype=object).astype(str),
    )
