"""``dropout-risk score-fhir``: a Bulk Data export scores as ``dropout-risk score`` scores the
same facts as tables, and a malformed line is reported while the rest is scored."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.support.fhir_export import write_export
from tests.support.quick_model import light_config

runner = CliRunner()
VERSION = "7"


@pytest.fixture(scope="module")
def model():
    """A quickly trained bundle (the registry is stubbed: both commands load this one)."""
    from features.contract import validate_extract
    from models.estimators import BoosterSettings
    from training.pipeline import train
    from training.synth import simulate_cohort

    simulated = simulate_cohort(n_clients=800, seed=5)
    checked = validate_extract(simulated.clients, simulated.sessions)
    config = light_config(bootstrap=0, booster=BoosterSettings(max_rounds=60, learning_rate=0.2))
    return train(checked.clients, checked.sessions, config=config).model


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    """300 synthetic clients as tables (CSV) and as a Bulk export split in two files per type."""
    from training.synth import simulate_cohort, write_cohort

    directory = tmp_path_factory.mktemp("extract")
    cohort = simulate_cohort(n_clients=300, seed=31)
    tables = write_cohort(cohort, directory / "tables")
    write_export(cohort.clients, cohort.sessions, directory / "export", split=2)
    return tables, directory / "export"


@pytest.fixture(autouse=True)
def _registry(model, monkeypatch, tmp_path):
    import training.registry

    monkeypatch.setenv("DROPOUT_RISK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(
        training.registry, "load_model", lambda settings, version=None: (model, VERSION)
    )


def _latest_scores(tables, tmp_path: Path) -> pd.DataFrame:
    out = tmp_path / "scores.csv"
    result = runner.invoke(
        app,
        ["score", "--clients", str(tables["clients"]), "--sessions", str(tables["sessions"]),
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out, dtype={"client_id": str})
    latest = scores.sort_values("as_of_session").groupby("client_id").tail(1)
    return latest.set_index("client_id")


def _read_assessments(path: Path) -> dict[tuple[str, str], dict]:
    found = {}
    for line in path.read_text().splitlines():
        resource = json.loads(line)
        patient = resource["subject"]["reference"].removeprefix("Patient/")
        outcome = resource["prediction"][0]["outcome"]["coding"][0]["code"]
        found[(patient, outcome)] = resource
    return found


OUTCOME_CODES = {"dropout": "dropout", "poor_outcome": "poor-outcome"}


def test_score_fhir_equals_score_on_the_same_facts(extract, tmp_path):
    tables, export = extract
    latest = _latest_scores(tables, tmp_path)
    out = tmp_path / "fhir"
    result = runner.invoke(app, ["score-fhir", "--input", str(export), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "scored 300 of 300 patients" in result.output
    assessments = _read_assessments(out / "RiskAssessment.ndjson")
    assert len(assessments) == 2 * len(latest) == 600
    assert not (out / "OperationOutcome.ndjson").exists()
    for client_id, row in latest.iterrows():
        for outcome, code in OUTCOME_CODES.items():
            prediction = assessments[(client_id, code)]["prediction"][0]
            assert prediction["probabilityDecimal"] == pytest.approx(
                row[f"{outcome}_probability"], abs=1e-9
            ), (client_id, outcome)
            interval = prediction["extension"][0]["valueRange"]
            assert interval["low"]["value"] == pytest.approx(
                row[f"{outcome}_probability_low"], abs=1e-9
            )
            assert interval["high"]["value"] == pytest.approx(
                row[f"{outcome}_probability_high"], abs=1e-9
            )
            assert (
                prediction["qualitativeRisk"]["coding"][0]["code"] == row[f"{outcome}_risk_level"]
            )


def test_small_buckets_and_chunks_score_the_same(model, extract, tmp_path):
    """Many buckets and small chunks (what a large export gets) change nothing."""
    from service.fhir.bulk import score_export

    _, export = extract
    outputs = []
    for name, options in (("one", {}), ("many", {"bucket_bytes": 100_000, "chunk": 7})):
        result = score_export(
            model, export, tmp_path / name, model_name="m", model_version="1", factors=0,
            **options,
        )  # fmt: skip
        assert result.complete and result.scored == 300
        outputs.append(_read_assessments(tmp_path / name / "RiskAssessment.ndjson"))
    one, many = outputs
    assert one.keys() == many.keys()
    for key in one:
        assert one[key]["prediction"] == many[key]["prediction"]


def test_a_malformed_line_is_reported_and_the_rest_scored(extract, tmp_path):
    _, export = extract
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in export.iterdir():
        broken.joinpath(path.name).write_text(path.read_text())
    observations = broken / "Observation.1.ndjson"
    lines = observations.read_text().splitlines()
    victim = json.loads(lines[4])["subject"]["reference"].removeprefix("Patient/")
    lines[4] = lines[4][: len(lines[4]) // 2]  # cut in the middle: not JSON
    lines.insert(9, "")  # a blank line is no problem
    observations.write_text("\n".join(lines) + "\n")
    encounters = broken / "Encounter.2.ndjson"
    rows = encounters.read_text().splitlines()
    bad = json.loads(rows[2])
    bad["status"] = "in-a-muddle"
    named = bad["subject"]["reference"].removeprefix("Patient/")
    rows[2] = json.dumps(bad)
    encounters.write_text("\n".join(rows) + "\n")
    (broken / "Practitioner.ndjson").write_text("{}\n")  # a type not read: ignored

    out = tmp_path / "out"
    result = runner.invoke(app, ["score-fhir", "--input", str(broken), "--out", str(out)])
    assert result.exit_code == 3, result.output
    assert "Observation.1.ndjson:5: not a JSON line" in result.output
    assert f"Patient/{named}: not scored: Encounter.2.ndjson:3:Encounter.status" in result.output
    assert "scored 299 of 300 patients" in result.output
    assessments = _read_assessments(out / "RiskAssessment.ndjson")
    assert len(assessments) == 2 * 299
    assert (victim, "dropout") in assessments or victim == named
    assert (named, "dropout") not in assessments
    problems = [
        json.loads(line) for line in (out / "OperationOutcome.ndjson").read_text().splitlines()
    ]
    assert {p["resourceType"] for p in problems} == {"OperationOutcome"}
    assert any(p["issue"][0]["expression"] == ["Observation.1.ndjson:5"] for p in problems)


def test_no_export_fails_in_one_line(tmp_path):
    result = runner.invoke(
        app, ["score-fhir", "--input", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("error: ")
    assert "no export files" in result.output
