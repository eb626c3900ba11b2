"""Registry: round trip through MLflow, the promotion gate, and the pyfunc flavour."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from features.engineering import FEATURE_NAMES
from models.bundle import OutcomeModel, RiskModel
from models.calibration import MarginCalibrator
from training.registry import (
    champion_version,
    client,
    load_model,
    promotion_decision,
    register,
)


def _held_out(trained):
    return trained.held_out


def _register(trained, settings, model=None):
    return register(
        model or trained.model,
        settings=settings,
        held_out=_held_out(trained),
        params={"note": "test"},
        metrics={"dropout/test/xgboost/auroc": 0.7},
        baselines=trained.baselines,
    )


def _worse(model: RiskModel) -> RiskModel:
    """The same boosters with the dropout calibrator's slope flipped: ranks clients backwards."""
    dropout = model.dropout
    flipped = OutcomeModel(
        outcome="dropout",
        booster=dropout.booster,
        calibrator=MarginCalibrator(
            slope=-dropout.calibrator.slope, intercept=dropout.calibrator.intercept
        ),
        thresholds=dropout.thresholds,
        base_rate=dropout.base_rate,
    )
    return RiskModel(
        dropout=flipped, poor_outcome=model.poor_outcome, max_landmark=model.max_landmark
    )


def test_round_trip_through_the_registry_gives_identical_probabilities(trained, mlflow_settings):
    registration = _register(trained, mlflow_settings)
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
    first = _register(trained, mlflow_settings)
    second = _register(trained, mlflow_settings, model=_worse(trained.model))
    assert not second.promoted
    assert "not promoted" in second.reason and "dropout: AUROC" in second.reason
    assert champion_version(mlflow_settings) == first.version  # the alias did not move
    tags = client(mlflow_settings).get_model_version("dropout-risk", second.version).tags
    assert tags["promotion_reason"] == second.reason


def test_an_equally_good_model_is_promoted(trained, mlflow_settings):
    _register(trained, mlflow_settings)
    again = _register(trained, mlflow_settings)
    assert again.promoted, again.reason
    assert champion_version(mlflow_settings) == again.version


def test_the_gate_refuses_a_badly_calibrated_first_model(trained, mlflow_settings):
    model = trained.model
    shifted = OutcomeModel(
        outcome="poor_outcome",
        booster=model.poor_outcome.booster,
        calibrator=MarginCalibrator(slope=model.poor_outcome.calibrator.slope, intercept=2.0),
        thresholds=model.poor_outcome.thresholds,
        base_rate=model.poor_outcome.base_rate,
    )
    candidate = RiskModel(dropout=model.dropout, poor_outcome=shifted, max_landmark=5)
    promoted, reason = promotion_decision(candidate, None, _held_out(trained), mlflow_settings)
    assert not promoted and "poor_outcome: ECE" in reason


def test_unknown_versions_and_missing_champions_are_lookup_errors(mlflow_settings):
    with pytest.raises(LookupError, match="no champion"):
        load_model(mlflow_settings)


def test_the_registered_pyfunc_loads_in_mlflow_and_predicts(trained, mlflow_settings):
    registration = _register(trained, mlflow_settings)
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
