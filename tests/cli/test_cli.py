"""The command line: exit codes, one-line reasons, readable reports."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


def _write(tmp_path, clients, sessions):
    clients.to_csv(tmp_path / "clients.csv", index=False)
    sessions.to_csv(tmp_path / "sessions.csv", index=False)
    return [
        "--clients",
        str(tmp_path / "clients.csv"),
        "--sessions",
        str(tmp_path / "sessions.csv"),
    ]


def test_every_subcommand_has_help():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = ("synth", "validate", "train", "score", "evaluate", "serve", "token")
    for command in (*commands, "export", "monitor", "erase", "reads"):
        assert command in result.output
        assert runner.invoke(app, [command, "--help"]).exit_code == 0


def test_validate_accepts_a_valid_extract(tmp_path, clients, sessions):
    result = runner.invoke(app, ["validate", *_write(tmp_path, clients, sessions)])
    assert result.exit_code == 0, result.output
    assert "extract is valid: 3 clients, 9 sessions" in result.output


# train refuses an extract with the same list: never the count of failures alone.
@pytest.mark.parametrize("command", ["validate", "train"])
def test_a_broken_extract_gets_every_failure_and_a_non_zero_exit(
    tmp_path, clients, sessions, command
):
    clients.at[1, "age"] = "12"
    sessions.at[3, "phq9"] = "30"
    sessions.at[6, "srs"] = "20"
    result = runner.invoke(app, [command, *_write(tmp_path, clients, sessions)])
    assert result.exit_code == 1
    assert "clients row 2 (client c2): age: must be at least 16; got '12'" in result.output
    assert "sessions row 4 (client c1): phq9: must be at most 27; got '30'" in result.output
    assert "sessions row 7 (client c2): attended:" in result.output
    assert "error: extract breaks the data contract: 3 failures" in result.output


def test_validate_names_a_missing_file_in_one_line(tmp_path):
    result = runner.invoke(
        app, ["validate", "--clients", str(tmp_path / "x.csv"), "--sessions", "y.parquet"]
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == f"error: {tmp_path / 'x.csv'}: no such file"


@pytest.mark.slow
def test_synth_train_score_evaluate_end_to_end(tmp_path, monkeypatch):
    """The documented workflow through the real command line, on a small cohort."""
    monkeypatch.setenv("DROPOUT_RISK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    train_dir, test_dir = tmp_path / "train", tmp_path / "test"
    for seed, out, size in ((1, train_dir, "3000"), (2, test_dir, "1000")):
        result = runner.invoke(
            app, ["synth", "--clients", size, "--seed", str(seed), "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
    extract = [
        "--clients",
        str(train_dir / "clients.csv"),
        "--sessions",
        str(train_dir / "sessions.csv"),
    ]
    result = runner.invoke(
        app,
        ["train", *extract, "--cv-folds", "2", "--no-leave-one-clinic-out", "--bootstrap", "10",
         "--override-gate", "a 3,000-client test cohort"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "registered version 1\n" in result.output
    assert "gate: " in result.output
    assert "dropout-risk version 1 is now the champion" in result.output
    from training.registry import load_model
    from training.settings import TrainingSettings

    registered, _ = load_model(TrainingSettings(), version="1")
    assert "- **Source: a synthetic cohort** (`dropout-risk synth`)" in registered.model_card
    again = runner.invoke(app, ["train", *extract, "--if-no-champion"])
    assert "champion is version 1; nothing to train" in again.output

    held_out = [
        "--clients",
        str(test_dir / "clients.csv"),
        "--sessions",
        str(test_dir / "sessions.csv"),
    ]
    scored = tmp_path / "scores.csv"
    result = runner.invoke(app, ["score", *held_out, "--out", str(scored), "--explain"])
    assert result.exit_code == 0, result.output
    import pandas as pd

    scores = pd.read_csv(scored)
    assert list(scores.columns[:10]) == [
        "client_id", "as_of_session", "dropout_probability", "dropout_probability_low",
        "dropout_probability_high", "dropout_risk_level", "poor_outcome_probability",
        "poor_outcome_probability_low", "poor_outcome_probability_high", "poor_outcome_risk_level",
    ]  # fmt: skip
    for outcome in ("dropout", "poor_outcome"):
        low, high = scores[f"{outcome}_probability_low"], scores[f"{outcome}_probability_high"]
        assert (low <= scores[f"{outcome}_probability"]).all()
        assert (scores[f"{outcome}_probability"] <= high).all() and (low < high).any()
    assert scores["as_of_session"].between(1, 12).all()
    assert scores["dropout_probability"].between(0, 1).all()
    assert scores["dropout_factors"].str.contains("the dropout risk by").any()

    result = runner.invoke(app, ["evaluate", *held_out, "--oracle", str(test_dir / "oracle.csv")])
    assert result.exit_code == 0, result.output
    assert "xgboost" in result.output and "logistic" in result.output and "oracle" in result.output

    missing = runner.invoke(app, ["score", *held_out, "--out", str(scored), "--model", "9"])
    assert missing.exit_code == 1 and "has no version 9" in missing.output
