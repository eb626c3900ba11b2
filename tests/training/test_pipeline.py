"""The training pipeline: grouped splits, reported metrics, counts and tables."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.metrics import bootstrap_metrics, calibration_slope_intercept, point_metrics
from training.fitting import is_test_client, split_clients


def test_held_out_clients_never_appear_in_training(trained, cohort):
    clients, _ = cohort
    test = is_test_client(clients["client_id"], share=0.2)
    assert 0.15 < test.mean() < 0.25
    held_out_ids = set(trained.test_predictions["dropout"]["client_id"])
    assert held_out_ids <= set(clients.loc[test, "client_id"])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=50))
def test_the_test_split_is_a_stable_function_of_the_client_id(ids):
    first = is_test_client(np.array(ids, dtype=object), share=0.3)
    again = is_test_client(np.array(list(reversed(ids)), dtype=object), share=0.3)
    np.testing.assert_array_equal(first, again[::-1])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=10, max_size=200), st.integers(0, 10_000))
def test_client_splits_are_disjoint_and_cover_every_row(clients, seed):
    clients = np.array([f"c{c}" for c in clients])
    parts = split_clients(clients, (0.75, 0.125, 0.125), np.random.default_rng(seed))
    assert np.all(np.sum(parts, axis=0) == 1)
    owners = [set(clients[part]) for part in parts]
    assert all(not (a & b) for i, a in enumerate(owners) for b in owners[i + 1 :])


def test_metrics_and_tables_are_reported_for_both_outcomes(trained):
    for outcome in ("dropout", "poor_outcome"):
        test = trained.metrics[outcome]["test"]
        assert set(test) == {"xgboost", "logistic", "srs_below_cutoff", "not_on_track"}
        auroc = test["xgboost"]["auroc"]
        assert auroc.low <= auroc.value <= auroc.high
        for name in ("sensitivity_at_high", "ppv_at_moderate", "ece", "calibration_slope"):
            assert name in test["xgboost"]
        assert {f"{outcome}_by_{g}" for g in ("landmark", "gender", "age_band", "clinic")} <= set(
            trained.tables
        )
        by_landmark = trained.tables[f"{outcome}_by_landmark"]
        landmarks = range(1, trained.model.max_landmark + 1)
        assert by_landmark["group"].tolist() == [str(k) for k in landmarks]
        curve = trained.tables[f"{outcome}_decision_curve"]
        # Flagging no one is worth 0; at a low threshold the model beats it.
        assert (curve["flag_none"] == 0).all() and curve["model"].iloc[0] > 0
        validity = trained.tables[f"{outcome}_interval_validity"]
        assert len(validity) == 10 and validity["holds"].sum() >= 6, validity
    assert trained.counts["left_out_referred"] > 0 and trained.counts["left_out_ongoing"] > 0


def test_calibration_metrics_recover_known_miscalibration():
    rng = np.random.default_rng(1)
    true_log_odds = rng.normal(-1, 1.2, 100_000)
    labels = (rng.uniform(size=true_log_odds.size) < 1 / (1 + np.exp(-true_log_odds))).astype(
        float
    )
    overconfident = 1 / (1 + np.exp(-2 * true_log_odds))
    slope, _ = calibration_slope_intercept(labels, overconfident)
    assert abs(slope - 0.5) < 0.03
    perfect = point_metrics(labels, 1 / (1 + np.exp(-true_log_odds)))
    assert abs(perfect["calibration_slope"] - 1) < 0.03 and perfect["ece"] < 0.01


def test_bootstrap_interval_contains_the_estimate_and_narrows_with_data():
    rng = np.random.default_rng(2)

    def width(n):
        p = rng.uniform(size=n)
        y = (rng.uniform(size=n) < p).astype(float)
        stats = bootstrap_metrics(y, p, np.arange(n), replicates=100)["auroc"]
        assert stats.low <= stats.value <= stats.high
        return stats.high - stats.low

    assert width(8000) < width(500)


def test_high_risk_stays_within_its_budget_on_held_out_clients(trained):
    """The alert budget holds on the held-out test clients, not only where it was chosen."""
    for outcome in ("dropout", "poor_outcome"):
        levels = trained.model.outcome_model(outcome).thresholds.levels
        assert levels["high"].share <= 0.15
        assert sum(level.share for level in levels.values()) == pytest.approx(1, abs=1e-3)


@pytest.mark.slow
def test_leave_one_clinic_out_scores_every_clinic_and_checks_the_intervals_there(cohort):
    from features.engineering import compute_features
    from features.landmarks import build_landmarks
    from models.estimators import BoosterSettings
    from training.fitting import TrainingConfig
    from training.held_out import leave_one_clinic_out

    clients, sessions = cohort
    landmarks = build_landmarks(clients, sessions, max_landmark=5)
    labelled = landmarks.examples["dropout"].notna().to_numpy()
    unseen = leave_one_clinic_out(
        "dropout",
        compute_features(landmarks.history)[labelled],
        landmarks.examples["dropout"].to_numpy(dtype=float)[labelled],
        landmarks.examples.loc[labelled],
        TrainingConfig(bootstrap=0, booster=BoosterSettings(max_rounds=300)),
    )
    assert unseen.table["clinic"].tolist() == sorted(clients["clinic_id"].unique())
    assert unseen.table["auroc"].between(0.6, 1).all()
    assert len(unseen.interval_validity) == 10
    assert unseen.interval_validity["holds"].sum() >= 5, unseen.interval_validity
