"""``token`` and ``serve``: tokens shown once and stored as hashes; bad settings stop serve."""

from __future__ import annotations

import json
import stat

import pytest
from typer.testing import CliRunner

from cli.main import app
from service.security import TokenBook, hash_token
from service.settings import ServiceSettings, read_tokens_file

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A fresh data directory (hence tokens file) in the environment of the commands."""
    for variable in ("DROPOUT_RISK_TOKENS_FILE", "DROPOUT_RISK_API_TOKENS", "DATABASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DROPOUT_RISK_DATA_DIR", str(tmp_path))
    return tmp_path


def _create(*arguments):
    result = runner.invoke(app, ["token", "create", *arguments])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_a_created_token_is_printed_once_and_stored_as_a_hash(data_dir):
    token = _create("--name", "ehr-north", "--scope", "risk:write", "--scope", "models:read")
    path = data_dir / "tokens.json"
    assert token not in path.read_text()
    (entry,) = read_tokens_file(path)
    assert entry.sha256 == hash_token(token)
    assert {s.value for s in entry.scopes} == {"risk:write", "models:read"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    caller = TokenBook(ServiceSettings().token_entries()).caller(token)
    assert caller is not None and caller.name == "ehr-north"


@pytest.mark.usefixtures("data_dir")
def test_a_new_token_of_the_same_name_replaces_the_old():
    old = _create("--name", "demo", "--scope", "admin")
    new = _create("--name", "demo", "--scope", "admin")
    _create("--name", "other", "--scope", "audit:read")
    book = TokenBook(ServiceSettings().token_entries())
    assert book.caller(old) is None and book.caller(new).name == "demo"
    assert len(book) == 2


@pytest.mark.usefixtures("data_dir")
def test_list_shows_names_and_scopes_never_tokens():
    token = _create("--name", "ehr-north", "--scope", "risk:write")
    listed = runner.invoke(app, ["token", "list"])
    assert listed.exit_code == 0
    assert "ehr-north" in listed.stdout and "risk:write" in listed.stdout
    assert token not in listed.stdout and hash_token(token) not in listed.stdout


@pytest.mark.usefixtures("data_dir")
def test_revoke_removes_the_token():
    token = _create("--name", "gone", "--scope", "admin")
    assert runner.invoke(app, ["token", "revoke", "gone"]).exit_code == 0
    assert TokenBook(ServiceSettings().token_entries()).caller(token) is None
    again = runner.invoke(app, ["token", "revoke", "gone"])
    assert again.exit_code == 1 and "no token named 'gone'" in again.output


def test_an_unknown_scope_is_refused_in_one_line(data_dir):
    result = runner.invoke(app, ["token", "create", "--scope", "root"])
    assert result.exit_code == 1
    assert "unknown scope root" in result.output
    assert not (data_dir / "tokens.json").exists()


@pytest.mark.usefixtures("data_dir")
def test_serve_refuses_a_plain_text_token_in_the_environment(monkeypatch):
    entry = [{"name": "x", "sha256": "drk_plain_text_token", "scopes": ["admin"]}]
    monkeypatch.setenv("DROPOUT_RISK_API_TOKENS", json.dumps(entry))
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "invalid settings" in result.output and "sha256" in result.output


def test_serve_refuses_a_broken_tokens_file(data_dir):
    (data_dir / "tokens.json").write_text('{"not": "a list"}')
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "tokens.json" in result.output
