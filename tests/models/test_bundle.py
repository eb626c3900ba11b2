"""The bundle saves and loads exactly, and refuses what it cannot serve."""

from __future__ import annotations

import json

import numpy as np
import pytest

from features.engineering import compute_features
from features.landmarks import build_landmarks
from models.bundle import IncompatibleModelError, RiskModel, load_baselines
from models.calibration import MarginCalibrator


def test_round_trip_gives_identical_probabilities(tmp_path, trained, cohort):
    clients, sessions = cohort
    history = build_landmarks(clients, sessions, max_landmark=5).history.take(np.arange(500))
    features = compute_features(history)
    trained.model.save(tmp_path / "bundle", baselines=trained.baselines)
    loaded = RiskModel.load(tmp_path / "bundle")
    for outcome in ("dropout", "poor_outcome"):
        np.testing.assert_array_equal(
            loaded.outcome_model(outcome).probability(features),
            trained.model.outcome_model(outcome).probability(features),
        )
        assert (
            loaded.outcome_model(outcome).thresholds
            == trained.model.outcome_model(outcome).thresholds
        )
    assert set(load_baselines(tmp_path / "bundle")) == {"dropout", "poor_outcome"}
    first = loaded.assess(history.take([0]))[0]
    assert first.dropout.risk_level in ("low", "moderate", "high")


def test_a_bundle_of_another_feature_specification_is_refused(tmp_path, trained):
    directory = trained.model.save(tmp_path / "bundle")
    spec = json.loads((directory / "bundle.json").read_text())
    spec["feature_names"] = spec["feature_names"][:-1]
    (directory / "bundle.json").write_text(json.dumps(spec))
    with pytest.raises(IncompatibleModelError, match="feature specification"):
        RiskModel.load(directory)


def test_a_corrupted_booster_is_refused(tmp_path, trained):
    directory = trained.model.save(tmp_path / "bundle")
    (directory / "dropout.ubj").write_bytes(b"not a model")
    with pytest.raises(IncompatibleModelError, match="cannot load"):
        RiskModel.load(directory)


def test_calibrator_recovers_a_known_affine_map():
    rng = np.random.default_rng(0)
    margin = rng.normal(0, 1.5, 50_000)
    outcome = rng.uniform(size=margin.size) < 1 / (1 + np.exp(-(0.7 * margin - 0.4)))
    fitted = MarginCalibrator.fit(margin, outcome)
    assert fitted.slope == pytest.approx(0.7, abs=0.05)
    assert fitted.intercept == pytest.approx(-0.4, abs=0.05)
