"""The command line: exit codes, one-line reasons, readable reports."""

from __future__ import annotations

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
    for command in ("synth", "validate"):
        assert command in result.output
        assert runner.invoke(app, [command, "--help"]).exit_code == 0


def test_validate_accepts_a_valid_extract(tmp_path, clients, sessions):
    result = runner.invoke(app, ["validate", *_write(tmp_path, clients, sessions)])
    assert result.exit_code == 0, result.output
    assert "extract is valid: 3 clients, 9 sessions" in result.output


def test_validate_prints_every_failure_and_exits_non_zero(tmp_path, clients, sessions):
    clients.at[1, "age"] = "12"
    sessions.at[3, "phq9"] = "30"
    sessions.at[6, "srs"] = "20"
    result = runner.invoke(app, ["validate", *_write(tmp_path, clients, sessions)])
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
