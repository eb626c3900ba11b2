"""Registry: round trip through MLflow, the promotion gate, and the pyfunc flavour."""

from __future__ import annotations

import dataclasses

import mlflow
import numpy as np
import pandas as pd
import pytest

from features.engineering import FEATURE_NAMES
from models.bundle import RiskModel
from models.calibration import MarginCalibrator
from training.gate import judge
from training.held_out import HeldOut
from training.registry import champion_version, client, load_model, register
from training.settings import GateSettings


def _held_out(trained):
    return trained.held_out


def _register(trained, settings, model=None, override=None):
    return register(
        model or trained.model,
        settings=settings,
        held_out=_held_out(trained),
        params={"note": "test"},
        metrics={"dropout/test/xgboost/auroc": 0.7},
        baselines=trained.baselines,
        override=override,
    )


def _worse(model: RiskModel) -> RiskModel:
    """The same boosters with the dropout calibrator's slope flipped: ranks clients backwards."""
    dropout = model.dropout
    flipped = dataclasses.replace(
        dropout,
        calibrator=MarginCalibrator(
            slope=-dropout.calibrator.slope, intercept=dropout.calibrator.intercept
        ),
    )
    return dataclasses.replace(model, dropout=flipped)


def test_round_trip_through_the_registry_gives_identical_probabilities(trained, mlflow_settings):
    registration = _register(trained, mlflow_settings, override="registry round trip")
    assert registration.promoted, registration.reason
    assert champion_version(mlflow_settings) == registration.version
    loaded, version = load_model(mlflow_settings)
    assert version == registration.version
    for outcome in ("dropout", "poor_outcome"):
        features = trained.held_out[outcome].features
        np.testing.assert_array_equal(
            loaded.outcome_model(outcome).probability(features),
            trained.model.outcome_model(outcome).probability(features),
        )


def test_the_gate_refuses_a_deliberately_worse_model(trained, mlflow_settings):
    first = _register(trained, mlflow_settings, override="the first test champion")
    second = _register(trained, mlflow_settings, model=_worse(trained.model))
    assert not second.promoted
    assert second.reason.startswith("refused (compared with the champion)")
    assert any(
        r.startswith("dropout: AUROC") and r.endswith("MISS") for r in second.verdict.reasons
    )
    assert champion_version(mlflow_settings) == first.version  # the alias did not move
    tags = client(mlflow_settings).get_model_version("dropout-risk", second.version).tags
    assert tags["promotion_reason"] == second.reason


def test_an_equally_good_model_passes_the_comparison_with_the_champion(trained):
    verdict = judge(trained.model, trained.model, _held_out(trained), GateSettings())
    comparisons = [r for r in verdict.reasons if "vs champion" in r]
    assert len(comparisons) == 2 and all(r.endswith(" ok") for r in comparisons)


def test_a_calibrated_model_passes_the_gate_and_is_promoted(trained, mlflow_settings):
    # The test cohort's clinics hold about a hundred events each: a clinic's observed rate
    # moves by about 0.05 from sampling alone, so the subgroup limit is widened here (the
    # shifted-model test below holds the default limit to its job).
    mlflow_settings = mlflow_settings.model_copy(update={"gate_subgroup_calibration_gap": 0.15})
    verdict = judge(trained.model, None, _held_out(trained), mlflow_settings.gate)
    assert verdict.passed, verdict.summary()
    registration = _register(trained, mlflow_settings)
    assert registration.promoted and registration.verdict.override is None
    assert champion_version(mlflow_settings) == registration.version


def _shifted(model: RiskModel, intercept_shift: float) -> RiskModel:
    poor = model.poor_outcome
    shifted = dataclasses.replace(
        poor,
        calibrator=MarginCalibrator(
            slope=poor.calibrator.slope, intercept=poor.calibrator.intercept + intercept_shift
        ),
    )
    return dataclasses.replace(model, poor_outcome=shifted)


def test_the_gate_refuses_a_badly_calibrated_first_model(trained):
    verdict = judge(_shifted(trained.model, 2.0), None, _held_out(trained), GateSettings())
    assert not verdict.passed
    assert any(r.startswith("poor_outcome: ECE") and r.endswith("MISS") for r in verdict.reasons)


def test_a_point_estimate_just_over_a_limit_is_refused_whatever_its_interval(trained):
    """A limit met only by the interval is a miss: the point estimate decides."""
    held_out = _held_out(trained)
    passing = judge(trained.model, None, held_out, GateSettings())
    ece = next(r for r in passing.reasons if r.startswith("dropout: ECE"))
    value = float(ece.split()[2])
    just_below = GateSettings(max_ece=value * 0.999)
    assert not judge(trained.model, None, held_out, just_below).passed


def test_a_cohort_too_small_to_judge_is_refused_and_says_so(trained):
    small = {
        outcome: HeldOut(
            features=data.features[:150], labels=data.labels[:150], clients=data.clients[:150]
        )
        for outcome, data in _held_out(trained).items()
    }
    verdict = judge(trained.model, None, small, GateSettings())
    assert not verdict.passed
    assert all("cohort too small to judge" in r for r in verdict.reasons)


def test_an_override_promotes_a_refused_version_and_is_recorded_everywhere(
    trained, mlflow_settings
):
    registration = _register(
        trained, mlflow_settings, model=_shifted(trained.model, 2.0), override="demo cohort"
    )
    assert registration.promoted and not registration.verdict.passed
    assert registration.verdict.verdict == "refused, promoted by override"
    tags = client(mlflow_settings).get_run(registration.run_id).data.tags
    assert tags["override_reason"] == "demo cohort" and tags["override_user"]
    served, _ = load_model(mlflow_settings)
    assert served.metadata["gate"]["override"]["reason"] == "demo cohort"
    assert "Promoted by override: demo cohort" in served.model_card


def test_unknown_versions_and_missing_champions_are_lookup_errors(mlflow_settings):
    with pytest.raises(LookupError, match="no champion"):
        load_model(mlflow_settings)


def test_the_registered_pyfunc_loads_in_mlflow_and_predicts(trained, mlflow_settings):
    registration = _register(trained, mlflow_settings, override="pyfunc test")
    pyfunc = mlflow.pyfunc.load_model(f"models:/dropout-risk/{registration.version}")
    features = trained.held_out["dropout"].features[:20]
    predicted = pyfunc.predict(pd.DataFrame(features, columns=list(FEATURE_NAMES)))
    np.testing.assert_allclose(
        predicted["dropout_probability"], trained.model.dropout.probability(features), atol=1e-12
    )
    assert set(predicted["poor_outcome_risk_level"]) <= {"low", "moderate", "high"}
    assert pyfunc.metadata.get_input_schema() is not None


def test_artifacts_stay_beside_an_explicit_sqlite_store(trained, tmp_path, monkeypatch):
    """MLflow's default artifact root for a database store is ./mlruns of the working directory."""
    from training.settings import TrainingSettings

    working, store = tmp_path / "elsewhere", tmp_path / "store"
    working.mkdir()
    monkeypatch.chdir(working)
    settings = TrainingSettings(
        data_dir=tmp_path / "data", mlflow_tracking_uri=f"sqlite:///{store / 'mlflow.db'}"
    )
    store.mkdir()
    registration = _register(trained, settings)
    run = client(settings).get_run(registration.run_id)
    assert run.info.artifact_uri.startswith((store / "mlartifacts").as_uri())
    assert list(working.iterdir()) == []
    assert TrainingSettings(mlflow_tracking_uri="http://mlflow:5000").artifact_location is None
