"""``token`` and ``serve``: tokens shown once and stored as hashes; bad settings stop serve."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from cli.main import app
from cli.service_commands import scoring_environment
from service.audit import AuditStore
from service.security import TokenBook, hash_token
from service.settings import ServiceSettings

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A fresh data directory (hence tokens file) in the environment of the commands."""
    for variable in ("DROPOUT_RISK_TOKENS_FILE", "DROPOUT_RISK_API_TOKENS", "DATABASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DROPOUT_RISK_DATA_DIR", str(tmp_path))
    # serve sets its scoring environment unless it is set: set here, it ends with the test
    # instead of leaking into the tests after it.
    for variable, value in scoring_environment(workers=1).items():
        monkeypatch.setenv(variable, value)
    return tmp_path


def _create(*arguments, clinic=("--clinic", "north")):
    result = runner.invoke(app, ["token", "create", *clinic, *arguments])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def _book() -> TokenBook:
    """The tokens in force, as a service on this data directory would read them."""
    with AuditStore.open(ServiceSettings().audit_url) as store:
        stored = store.api_tokens.active()
    return TokenBook(ServiceSettings().token_entries() + stored)


def test_a_created_token_is_printed_once_and_stored_as_a_hash(data_dir):
    token = _create("--name", "ehr-north", "--scope", "risk:write", "--scope", "models:read")
    assert not (data_dir / "tokens.json").exists()  # tokens go to the database now
    database = data_dir / "audit.db"
    assert token.encode() not in database.read_bytes()
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    with AuditStore.open(ServiceSettings().audit_url) as store:
        (stored,) = store.api_tokens.listing()
    entry = stored.entry
    assert entry.sha256 == hash_token(token)
    assert {s.value for s in entry.scopes} == {"risk:write", "models:read"}
    assert entry.clinics == {"north"} and not entry.all_clinics
    caller = _book().caller(token)
    assert caller is not None and caller.name == "ehr-north" and caller.clinics == {"north"}


@pytest.mark.usefixtures("data_dir")
def test_a_token_names_its_clinics_or_all_of_them():
    for clinic in ((), ("--clinic", "north", "--all-clinics")):
        result = runner.invoke(app, ["token", "create", "--scope", "admin", *clinic])
        assert result.exit_code == 1 and "--clinic" in result.output
    token = _create("--name", "ops", "--scope", "admin", clinic=("--all-clinics",))
    assert _book().caller(token).clinics is None  # every clinic


@pytest.mark.usefixtures("data_dir")
def test_a_token_may_expire():
    token = _create("--name", "brief", "--scope", "admin", "--expires-in", "1")
    entry = _book().entry(token)
    left = entry.expires_at - datetime.now(UTC)
    assert timedelta(hours=23) < left <= timedelta(days=1)


@pytest.mark.usefixtures("data_dir")
def test_a_new_token_of_the_same_name_replaces_the_old():
    old = _create("--name", "demo", "--scope", "admin")
    new = _create("--name", "demo", "--scope", "admin")
    _create("--name", "other", "--scope", "audit:read")
    book = _book()
    assert book.caller(old) is None and book.caller(new).name == "demo"
    assert len(book) == 2


@pytest.mark.usefixtures("data_dir")
def test_list_shows_names_scopes_and_clinics_never_tokens():
    token = _create("--name", "ehr-north", "--scope", "risk:write")
    listed = runner.invoke(app, ["token", "list"])
    assert listed.exit_code == 0
    assert "ehr-north" in listed.stdout and "risk:write" in listed.stdout
    assert "north" in listed.stdout and "last used never" in listed.stdout
    assert token not in listed.stdout and hash_token(token) not in listed.stdout


@pytest.mark.usefixtures("data_dir")
def test_revoke_withdraws_the_token():
    token = _create("--name", "gone", "--scope", "admin")
    assert runner.invoke(app, ["token", "revoke", "gone"]).exit_code == 0
    assert _book().caller(token) is None
    listed = runner.invoke(app, ["token", "list"])
    assert "revoked" in listed.stdout
    again = runner.invoke(app, ["token", "revoke", "gone"])
    assert again.exit_code == 1 and "no token named 'gone'" in again.output


def test_an_unknown_scope_is_refused_in_one_line(data_dir):
    result = runner.invoke(app, ["token", "create", "--scope", "root", "--clinic", "north"])
    assert result.exit_code == 1
    assert "unknown scope root" in result.output
    assert not (data_dir / "audit.db").exists()


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
