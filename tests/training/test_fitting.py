"""One outcome's fitting step on selected rows of the landmark matrix, and its bounded parts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from features.engineering import FEATURE_NAMES
from models.explanations import explain
from tests.support.quick_model import light_config
from training import fitting, held_out
from training.fitting import FittedOutcome, at_most, fit_baseline, fit_outcome, split_clients
from training.pipeline import TrainingConfig


def _rows(cohort_rows: int = 3000, seed: int = 0):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(cohort_rows, len(FEATURE_NAMES))).astype(np.float32)
    labels = (rng.random(cohort_rows) < 1 / (1 + np.exp(-features[:, 0]))).astype(float)
    clients = np.array([f"c{i // 3:05d}" for i in range(cohort_rows)])
    return features, labels, clients


def test_fitting_on_selected_rows_equals_fitting_on_their_copy():
    features, labels, clients = _rows()
    chosen = np.flatnonzero(np.arange(len(labels)) % 4 != 0)
    config = light_config(booster=dataclasses.replace(light_config().booster, max_rounds=40))
    on_rows, on_copy = (
        fit_outcome(
            "dropout",
            matrix,
            labels[chosen],
            clients[chosen],
            config=config,
            rng=np.random.default_rng(1),
            rows=rows,
        )  # fmt: skip
        for matrix, rows in ((features, chosen), (features[chosen], None))
    )
    probe = features[:200]
    np.testing.assert_allclose(
        on_rows.model.probability(probe), on_copy.model.probability(probe), atol=1e-6
    )
    np.testing.assert_allclose(
        on_rows.logistic.predict_proba(probe), on_copy.logistic.predict_proba(probe), atol=1e-6
    )


def test_the_booster_is_refitted_below_keep_stopped_from_fit_landmarks_only():
    features, labels, clients = _rows()
    fit_landmarks = 2250  # three quarters of the clients, three landmarks each
    boosters = {}
    for keep_stopped_from in (fit_landmarks + 1, fit_landmarks):
        config = light_config(
            booster=dataclasses.replace(light_config().booster, max_rounds=40),
            keep_stopped_from=keep_stopped_from,
        )
        fitted = fit_outcome(
            "dropout", features, labels, clients, config=config, rng=np.random.default_rng(1),
            with_logistic=False,
        )  # fmt: skip
        boosters[keep_stopped_from] = fitted.model.booster
    refitted, stopped = boosters[fit_landmarks + 1], boosters[fit_landmarks]
    assert refitted.attr("rounds") is not None and stopped.attr("rounds") is None
    best = int(stopped.attr("best_iteration"))
    assert stopped.num_boosted_rounds() == best + 1
    # The refit grows the early-stopped count scaled to a seventh more landmarks.
    assert int(refitted.attr("rounds")) == int(np.ceil((best + 1) * 2625 / fit_landmarks))
    assert fitting.refits(999, config=TrainingConfig(keep_stopped_from=1000))
    assert not fitting.refits(1000, config=TrainingConfig(keep_stopped_from=1000))


def test_the_baseline_learns_from_at_most_baseline_rows_landmarks(monkeypatch):
    features, labels, clients = _rows()
    fit, valid, _ = split_clients(clients, (0.75, 0.125, 0.125), np.random.default_rng(0))
    tried = []
    original = fitting.fit_logistic_baseline
    monkeypatch.setattr(
        fitting,
        "fit_logistic_baseline",
        lambda **kw: tried.append(len(kw["train_features"])) or original(**kw),
    )
    config = TrainingConfig(baseline_rows=500)
    model = fit_baseline(
        features, labels, np.arange(len(labels)), fit=fit, valid=valid, config=config,
        penalties=(0.1, 1.0),
    )  # fmt: skip
    assert tried == [500]  # the penalty chosen on 500 fit rows ...
    assert model[1].n_samples_seen_ == 500  # ... and the refit on 500 fit or validation rows
    assert model[-1].coef_[0, 0] > 0.5  # it still learnt the signal
    again = fit_baseline(
        features, labels, np.arange(len(labels)), fit=fit, valid=valid, config=config,
        penalties=(0.1, 1.0),
    )  # fmt: skip
    np.testing.assert_array_equal(model[-1].coef_, again[-1].coef_)  # the same draw


def test_a_bounded_sample_is_every_row_or_a_stable_draw_in_order():
    rows = np.arange(100, 140)
    np.testing.assert_array_equal(at_most(rows, 40, seed=0), rows)
    sample = at_most(rows, 25, seed=0)
    assert len(sample) == 25 and len(set(sample)) == 25
    assert np.all(np.diff(sample) > 0) and set(sample) <= set(rows)
    np.testing.assert_array_equal(sample, at_most(rows, 25, seed=0))


def test_global_importance_explains_a_bounded_sample_of_held_out_rows(trained, monkeypatch):
    fitted = FittedOutcome(model=trained.model.dropout, logistic=None)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, len(FEATURE_NAMES))).astype(np.float32)
    examples = pd.DataFrame(
        {"client_id": [f"c{i}" for i in range(60)], "as_of_session": 1, "clinic_id": "a",
         "gender": "female", "age": 30.0, "primary_concern": "depression"}
    )  # fmt: skip
    explained = []
    monkeypatch.setattr(held_out, "IMPORTANCE_ROWS", 25)
    monkeypatch.setattr(
        held_out, "explain", lambda booster, calibrator, rows, **given: explained.append(len(rows))
        or explain(booster, calibrator, rows, **given),
    )  # fmt: skip
    labels = (rng.random(60) < 0.3).astype(float)
    result = held_out.evaluate_held_out(
        fitted, features, labels, examples, config=light_config(bootstrap=0)
    )
    assert explained == [25]
    assert set(result.importance["features"]) == set(FEATURE_NAMES)
