"""``dropout-risk monitor`` on an audit store (SQLite and PostgreSQL) and a model registry."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.main import app
from features.contract import validate_extract
from service.audit import AuditStore, NewAssessment
from tests.support.records import reported_outcomes, scored_records
from tests.support.registry import register_trained, registry_settings
from training.synth import simulate_cohort

runner = CliRunner()


@pytest.fixture
def stored_clinic(trained, audit_url, tmp_path, monkeypatch):
    """300 clients scored by a registered version and stored with their outcomes."""
    settings = registry_settings(tmp_path / "registry")
    version = register_trained(trained, settings)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.tracking_uri)
    simulated = simulate_cohort(n_clients=300, seed=77)
    report = validate_extract(simulated.clients, simulated.sessions)
    records = scored_records(report.clients, report.sessions, trained.model, version=version)
    with AuditStore.open(audit_url) as store:
        store.record_assessments(
            [
                NewAssessment(
                    assessment_id=f"00000000-0000-4000-8000-{number:012d}",
                    client_id=r.client_id,
                    as_of_session=r.as_of_session,
                    model_name="dropout-risk",
                    model_version=r.model_version,
                    request=r.request,
                    response=r.response,
                )
                for number, r in enumerate(records)
            ]
        )
        for outcome in reported_outcomes(report.clients, at=records[-1].created_at):
            store.record_outcome(
                client_id=outcome.client_id,
                termination=outcome.termination,
                end_date=outcome.end_date,
                reported_by="test",
            )
    return audit_url, version, len(records)


def test_monitor_prints_the_report_and_writes_html_and_json(stored_clinic, tmp_path):
    audit_url, version, assessments = stored_clinic
    html, report_json = tmp_path / "out" / "report.html", tmp_path / "out" / "report.json"
    result = runner.invoke(
        app,
        ["monitor", "--database-url", audit_url, "--window-days", "1",
         "--html", str(html), "--json", str(report_json)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{assessments:>7,}" in result.output and "alert(s)" in result.output
    report = json.loads(report_json.read_text())
    (window,) = report["windows"]
    assert (window["model_version"], window["assessments"]) == (version, assessments)
    assert window["drift"] is not None  # the training profile came from the registry
    assert window["realised"]["dropout"]["labelled"] > 0
    page = html.read_text()
    assert f"Model version {version}" in page and page.count("<svg") >= 3


def test_monitor_of_an_empty_period_says_so(stored_clinic, tmp_path):
    audit_url, _, _ = stored_clinic
    result = runner.invoke(
        app,
        ["monitor", "--database-url", audit_url, "--until", "2020-01-01",
         "--html", str(tmp_path / "r.html")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "no assessments in the period" in result.output
    assert "No alert" in (tmp_path / "r.html").read_text()


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--since", "last tuesday"], "--since: not an ISO 8601 date or time"),
        (["--since", "2026-02-01", "--until", "2026-01-01"], "--since must be before --until"),
        (["--database-url", "sqlite:///{tmp}/missing.db"], "no audit database"),
    ],
)
def test_bad_options_fail_in_one_line(tmp_path, arguments, words):
    arguments = [a.replace("{tmp}", str(tmp_path)) for a in arguments]
    result = runner.invoke(app, ["monitor", *arguments, "--html", str(tmp_path / "r.html")])
    assert result.exit_code != 0
    assert words in result.output
    assert not (tmp_path / "r.html").exists()
