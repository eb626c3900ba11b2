"""``dropout-risk train --engine dask``: a local cluster when no scheduler is given, and
one-line reasons for what it refuses."""

from __future__ import annotations

import functools

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from models.estimators import BoosterSettings
from training.pipeline import TrainingConfig

runner = CliRunner()


@pytest.fixture
def parquet_extract(tmp_path, monkeypatch):
    """800 synthetic clients as two Parquet files, a fresh data directory, a fast booster."""
    from training.synth import simulate_cohort

    monkeypatch.setenv("DROPOUT_RISK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # Fewer, larger boosting steps than the defaults: the cluster's speed is not tested here.
    fast = BoosterSettings(max_rounds=60, learning_rate=0.3, early_stopping_rounds=8)
    monkeypatch.setattr(
        "training.pipeline.TrainingConfig", functools.partial(TrainingConfig, booster=fast)
    )
    cohort = simulate_cohort(n_clients=800, seed=4)
    cohort.clients.to_parquet(tmp_path / "clients.parquet", index=False)
    cohort.sessions.to_parquet(tmp_path / "sessions.parquet", index=False)
    return [
        "--clients", str(tmp_path / "clients.parquet"),
        "--sessions", str(tmp_path / "sessions.parquet"),
    ]  # fmt: skip


LIGHT = [
    "--cv-folds", "0", "--no-leave-one-clinic-out", "--bootstrap", "5",
    "--override-gate", "an 800-client test cohort",
]  # fmt: skip


@pytest.mark.slow
def test_train_on_a_local_cluster_registers_a_model_that_scores(parquet_extract, tmp_path):
    result = runner.invoke(app, ["train", *parquet_extract, *LIGHT, "--engine", "dask"])
    assert result.exit_code == 0, result.output
    assert "registered version 1\n" in result.output
    assert "refused, promoted by override" in result.output  # 800 clients: too few to judge
    assert "dropout      xgboost          AUROC" in result.output
    assert "logistic         AUROC" not in result.output  # no LR baseline on this engine
    out = tmp_path / "scores.csv"
    scored = runner.invoke(app, ["score", *parquet_extract, "--out", str(out), "--explain"])
    assert scored.exit_code == 0, scored.output
    scores = pd.read_csv(out)
    assert scores["poor_outcome_probability"].between(0, 1).all()
    assert scores["dropout_factors"].str.contains("the dropout risk by").any()
    # The same extract scored on a local cluster: a directory of Parquet parts, same rows.
    parts = tmp_path / "scores"
    on_cluster = runner.invoke(
        app, ["score", *parquet_extract, "--out", str(parts), "--explain", "--engine", "dask"]
    )
    assert on_cluster.exit_code == 0, on_cluster.output
    assert f"scored {len(scores):,} landmarks with version 1: {parts} (" in on_cluster.output
    written = pd.concat(pd.read_parquet(part) for part in sorted(parts.glob("part-*.parquet")))
    written = written.sort_values(["client_id", "as_of_session"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(written, scores, check_dtype=False)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--scheduler", "tcp://127.0.0.1:9"], "--scheduler needs --engine dask"),
        (["--engine", "dask", "--workers", "2"], "--workers is for --engine single"),
        (["--engine", "dask", "--out", "scores.csv"], "name a directory"),
        (["--out", "scores.txt"], "unsupported output type; use .csv or .parquet"),
    ],
)
def test_score_refuses_options_that_do_not_fit_in_one_line(tmp_path, options, message):
    arguments = ["score", "--clients", "c.parquet", "--sessions", "s.parquet"]
    if "--out" not in options:
        arguments += ["--out", str(tmp_path / "scores.csv")]
    result = runner.invoke(app, [*arguments, *options])
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last


def test_the_dask_engine_refuses_csv_in_one_line(tmp_path, clients, sessions):
    clients.to_csv(tmp_path / "clients.csv", index=False)
    sessions.to_csv(tmp_path / "sessions.csv", index=False)
    extract = ["--clients", str(tmp_path / "clients.csv"), "--sessions", "sessions.csv"]
    result = runner.invoke(app, ["train", *extract, "--engine", "dask"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'clients.csv'}: the dask engine reads Parquet (a .parquet file or"
        " a directory of them); convert the table or use --engine single"
    )


def test_an_unreachable_scheduler_is_one_line(parquet_extract, monkeypatch):
    monkeypatch.setattr("training.distributed.CONNECT_TIMEOUT", 1)
    arguments = ["train", *parquet_extract, "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9"]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:9: ")


def test_a_scheduler_needs_the_dask_engine(parquet_extract):
    result = runner.invoke(app, ["train", *parquet_extract, "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == "error: --scheduler needs --engine dask"


def test_learning_rate_reaches_the_boosters_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.setenv("DROPOUT_RISK_DATA_DIR", str(tmp_path / "data"))
    seen = []

    def capture(*_, config, **__):
        seen.append(config)
        raise KeyboardInterrupt  # stop before training: only the options are tested here

    monkeypatch.setattr("training.run.train_and_register", capture)
    files = ["--clients", "c.csv", "--sessions", "s.csv"]
    for options in ([], ["--learning-rate", "0.3"]):
        runner.invoke(app, ["train", *files, *options])
    default, faster = seen
    assert default.booster == BoosterSettings()
    assert faster.booster == BoosterSettings(learning_rate=0.3)
    assert faster == TrainingConfig(booster=BoosterSettings(learning_rate=0.3))
    refused = runner.invoke(app, ["train", *files, "--learning-rate", "1.5"])
    assert refused.exit_code == 2 and len(seen) == 2
