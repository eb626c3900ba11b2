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


def test_a_model_trained_on_revision_1_labels_is_refused_with_what_to_do(tmp_path, trained):
    directory = trained.model.save(tmp_path / "bundle")
    spec = json.loads((directory / "bundle.json").read_text())
    assert spec["metadata"]["label_revision"] == 2
    spec["metadata"]["label_revision"] = 1
    (directory / "bundle.json").write_text(json.dumps(spec))
    with pytest.raises(IncompatibleModelError, match="labels revision 1.*retrain"):
        RiskModel.load(directory)


def test_the_interval_round_trips_and_contains_every_probability(tmp_path, trained, cohort):
    clients, sessions = cohort
    history = build_landmarks(clients, sessions, max_landmark=5).history.take(np.arange(300))
    loaded = RiskModel.load(trained.model.save(tmp_path / "bundle"))
    for before, after in zip(trained.model.assess(history), loaded.assess(history), strict=True):
        for outcome in ("dropout", "poor_outcome"):
            mine, theirs = getattr(before, outcome), getattr(after, outcome)
            assert (mine.probability_low, mine.probability_high) == (
                theirs.probability_low,
                theirs.probability_high,
            )
            assert mine.probability_low <= mine.probability <= mine.probability_high


def test_boosters_on_several_threads_give_the_same_explained_assessments(trained, cohort):
    clients, sessions = cohort
    history = build_landmarks(clients, sessions, max_landmark=5).history.take(np.arange(64))
    one = trained.model.assess(history)

    def threads(outcome: str, rows: int) -> str:
        booster = trained.model.booster_for(outcome, rows)
        return json.loads(booster.save_config())["learner"]["generic_param"]["nthread"]

    try:
        trained.model.use_threads(2)
        assert {threads(o, r) for o in ("dropout", "poor_outcome") for r in (1, 64)} == {"2"}
        two = trained.model.assess(history)
        trained.model.use_threads(2, from_rows=8)  # batches from 8 rows on two threads
        for outcome in ("dropout", "poor_outcome"):
            assert (threads(outcome, 1), threads(outcome, 7)) == ("1", "1")
            assert (threads(outcome, 8), threads(outcome, 64)) == ("2", "2")
        wide = trained.model.assess(history)
        narrow = [trained.model.assess(history.take(np.arange(i, i + 4)))[0] for i in (0, 4)]
    finally:
        trained.model.use_threads(1)
    assert {threads(o, r) for o in ("dropout", "poor_outcome") for r in (1, 64)} == {"1"}
    assert two == one
    assert wide == one
    assert narrow == [one[0], one[4]]
    with pytest.raises(ValueError, match="at least 1"):
        trained.model.use_threads(0)
    with pytest.raises(ValueError, match="at least 1"):
        trained.model.use_threads(2, from_rows=0)
