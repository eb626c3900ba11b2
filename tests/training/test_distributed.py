"""Training on a Dask cluster: registers, loads and scores, and matches one machine's quality.

One two-worker local cluster serves the module (reached by its address, as
``--scheduler`` does); the extract is 1,500 synthetic clients written as Parquet files in
three row-range parts per table, not grouped by client, so co-partitioning is exercised.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

from features.contract import ContractError, validate_extract
from models.batch import SCORE_COLUMNS, score_extract
from models.estimators import BoosterSettings
from training.distributed import NOT_RUN, train_on_cluster
from training.distributed_scoring import score_on_cluster
from training.partitions import parquet_files, read_partitions
from training.pipeline import TrainingConfig, train
from training.registry import client as mlflow_client
from training.registry import load_model
from training.run import fingerprint, train_and_register
from training.settings import TrainingSettings

#: Both engines' held-out AUROC must agree this closely (same test clients, same options).
AUROC_TOLERANCE = 0.03
#: Fast options for both engines: few, large boosting steps, no CV, few bootstrap replicates.
CONFIG = TrainingConfig(
    cv_folds=0,
    leave_one_clinic_out=False,
    bootstrap=10,
    booster=BoosterSettings(max_rounds=60, learning_rate=0.3, early_stopping_rounds=8),
)


def _write_parts(table: pd.DataFrame, directory, parts: int = 3) -> None:
    directory.mkdir(parents=True)
    for index, rows in enumerate(np.array_split(np.arange(len(table)), parts)):
        table.iloc[rows].to_parquet(directory / f"part-{index}.parquet", index=False)


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    """Validated tables of 1,500 clients and the Parquet directories holding them."""
    from training.synth import simulate_cohort

    cohort = simulate_cohort(n_clients=1500, seed=21)
    report = validate_extract(cohort.clients, cohort.sessions)
    assert report.ok
    root = tmp_path_factory.mktemp("parquet")
    _write_parts(report.clients, root / "clients")
    # Sessions in another order than clients, so a client's rows sit in any file.
    _write_parts(report.sessions.sample(frac=1.0, random_state=0), root / "sessions")
    return report.clients, report.sessions, root / "clients", root / "sessions"


@pytest.fixture(scope="module")
def scheduler():
    """The address of a two-worker local cluster, closed after the module."""
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        # As training's own cluster: no port of its own to collide with another test's.
        dashboard_address="127.0.0.1:0",
        scheduler_kwargs={"dashboard": False},
        silence_logs=logging.ERROR,
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def dask_run(extract, scheduler, tmp_path_factory):
    """``train_and_register`` on the cluster into a fresh MLflow store."""
    directory = tmp_path_factory.mktemp("mlflow")
    settings = TrainingSettings(
        data_dir=directory, mlflow_tracking_uri=f"sqlite:///{directory / 'mlflow.db'}"
    )
    _, _, clients_dir, sessions_dir = extract
    run = train_and_register(
        clients_dir, sessions_dir, settings=settings, config=CONFIG, progress=lambda _: None,
        engine="dask", scheduler=scheduler, override_gate="a 1,500-client test cohort",
    )  # fmt: skip
    return run, settings


@pytest.mark.slow
def test_the_dask_run_registers_a_version_that_loads_and_scores(extract, dask_run):
    run, settings = dask_run
    assert run.registration.promoted, run.registration.reason
    model, version = load_model(settings, version=run.registration.version)
    assert model.metadata["engine"]["name"] == "dask"
    params = mlflow_client(settings).get_run(run.registration.run_id).data.params
    assert params["engine"] == "dask" and params["not_run"] == NOT_RUN
    assert params["cv_folds"] == "0"
    clients, sessions, _, _ = extract
    few = clients["client_id"].iloc[:40]
    scores = score_extract(
        model, clients[clients["client_id"].isin(few)],
        sessions[sessions["client_id"].isin(few)], explain=True,
    )  # fmt: skip
    assert list(scores.columns[: len(SCORE_COLUMNS)]) == list(SCORE_COLUMNS)
    assert set(scores["client_id"]) == set(few)
    assert scores["dropout_probability"].between(0, 1).all()
    assert scores["dropout_factors"].str.len().gt(2).all()
    for outcome in ("dropout", "poor_outcome"):
        features = run.result.held_out[outcome].features
        np.testing.assert_allclose(
            model.outcome_model(outcome).probability(features),
            run.result.model.outcome_model(outcome).probability(features),
        )


@pytest.mark.slow
def test_the_dask_run_matches_the_single_machine_path(extract, dask_run):
    clients, sessions, clients_dir, sessions_dir = extract
    run, _ = dask_run
    single = train(clients, sessions, config=CONFIG)
    assert run.result.counts == single.counts
    for outcome in ("dropout", "poor_outcome"):
        ours, theirs = run.result.held_out[outcome], single.held_out[outcome]
        np.testing.assert_array_equal(ours.clients, theirs.clients)  # same clients, in order
        np.testing.assert_array_equal(ours.labels, theirs.labels)
        np.testing.assert_allclose(ours.features, theirs.features, equal_nan=True)
        dask_auroc = run.result.metrics[outcome]["test"]["xgboost"]["auroc"].value
        single_auroc = single.metrics[outcome]["test"]["xgboost"]["auroc"].value
        assert dask_auroc > 0.65, (outcome, dask_auroc)
        assert abs(dask_auroc - single_auroc) < AUROC_TOLERANCE, (dask_auroc, single_auroc)
        slope = run.result.metrics[outcome]["test"]["xgboost"]["calibration_slope"].value
        # About 300 held-out clients: a calibration slope's 95% interval there is about
        # +-0.4 wide, so this only catches a model that is badly off, not noise.
        assert 0.5 < slope < 2.0, (outcome, slope)
    expected = fingerprint(clients, sessions, ())
    recorded = {k: v for k, v in _fingerprint_of(dask_run).items() if k != "files"}
    assert recorded == {k: v for k, v in expected.items() if k != "files"}
    assert sorted(_fingerprint_of(dask_run)["files"]) == sorted(
        parquet_files(clients_dir) | parquet_files(sessions_dir)
    )


@pytest.mark.slow
def test_a_cohort_past_keep_stopped_from_serves_the_early_stopped_boosters(extract, scheduler):
    clients, _, clients_dir, sessions_dir = extract
    config = dataclasses.replace(CONFIG, keep_stopped_from=1)  # every cohort is "large"
    result = train_on_cluster(clients_dir, sessions_dir, config=config, scheduler=scheduler).result
    for outcome in ("dropout", "poor_outcome"):
        booster = result.model.outcome_model(outcome).booster
        assert booster.attr("rounds") is None  # not refitted ...
        assert booster.num_boosted_rounds() == int(booster.attr("best_iteration")) + 1
        assert result.metrics[outcome]["test"]["xgboost"]["auroc"].value > 0.65


def _fingerprint_of(dask_run) -> dict:
    run, settings = dask_run
    model, _ = load_model(settings, version=run.registration.version)
    return model.metadata["fingerprint"]


@pytest.mark.slow
def test_a_partition_that_breaks_the_contract_is_named(extract, scheduler, tmp_path):
    clients, sessions, _, sessions_dir = extract
    broken = clients.astype({"age": "float64"})
    broken.loc[7, "age"] = 12.0
    _write_parts(broken, tmp_path / "clients")
    with Client(scheduler) as dask, pytest.raises(ContractError) as raised:
        read_partitions(
            dask, tmp_path / "clients", sessions_dir, config=CONFIG, clients_per_partition=500
        )
    message = str(raised.value)
    assert "breaks the data contract: 1 failures" in message
    assert f"(client {clients.loc[7, 'client_id']}): age: must be at least 16" in message
    assert "\n" not in message


@pytest.mark.slow
def test_partitions_hold_every_landmark_once(extract, scheduler):
    clients, sessions, clients_dir, sessions_dir = extract
    with Client(scheduler) as dask:
        spread = read_partitions(
            dask, clients_dir, sessions_dir, config=CONFIG, clients_per_partition=400
        )
        rows = spread.landmarks[["example_client_id", "example_as_of_session"]].compute()
    assert spread.partitions == math.ceil(len(clients) / 400)
    expected = sessions.loc[sessions["session_number"] <= CONFIG.max_landmark]
    assert len(rows) == len(expected)
    assert not rows.duplicated().any()
    assert set(rows["example_client_id"]) == set(expected["client_id"])


@pytest.mark.parametrize("name", ["clients.csv", "missing.parquet", "empty"])
def test_the_dask_engine_reads_only_parquet(tmp_path, name):
    path = tmp_path / name
    if name == "clients.csv":
        path.write_text("client_id\nc1\n")
    elif name == "empty":
        path.mkdir()
    with pytest.raises(ContractError) as raised:
        train_on_cluster(path, path, config=CONFIG)
    assert str(raised.value).startswith(str(path))


def test_scoring_on_the_cluster_writes_exactly_the_rows_of_one_machine(
    extract, scheduler, trained, tmp_path
):
    clients, sessions, clients_dir, sessions_dir = extract
    out = tmp_path / "scores"
    out.mkdir()
    (out / "part-00099.parquet").write_bytes(b"a stale part of an earlier run")
    run = score_on_cluster(
        clients_dir, sessions_dir, out, model=trained.model, explain=True,
        scheduler=scheduler, clients_per_partition=400,
    )  # fmt: skip
    assert len(run.files) == 4 and sorted(out.glob("*")) == sorted(run.files)
    parts = [pd.read_parquet(path) for path in run.files]
    for part in parts:  # each file in client and landmark order
        assert part.equals(part.sort_values(["client_id", "as_of_session"]))
    expected = score_extract(trained.model, clients, sessions, explain=True)
    written = pd.concat(parts).sort_values(["client_id", "as_of_session"]).reset_index(drop=True)
    assert run.rows == len(expected)
    pd.testing.assert_frame_equal(written, expected, check_dtype=False)


def test_a_partition_breaking_the_contract_is_named_when_scoring(
    extract, scheduler, trained, tmp_path
):
    clients, sessions, _, _ = extract
    broken = sessions.copy()
    broken.loc[broken.index[5], "phq9"] = 99
    broken.to_parquet(tmp_path / "sessions.parquet", index=False)
    clients.to_parquet(tmp_path / "clients.parquet", index=False)
    with pytest.raises(ContractError, match=r"partition \d+; row numbers count within it"):
        score_on_cluster(
            tmp_path / "clients.parquet", tmp_path / "sessions.parquet", tmp_path / "out",
            model=trained.model, scheduler=scheduler, clients_per_partition=400,
        )  # fmt: skip
