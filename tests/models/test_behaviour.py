"""Model behaviour: directional, invariance and minimum-quality tests on a trained model."""

from __future__ import annotations

import numpy as np
import pytest

from features.engineering import compute_features
from features.history import HistoryBatch
from features.instruments import INSTRUMENTS, MEASURE_COLUMNS
from features.landmarks import build_landmarks
from models.metrics import point_metrics

WAI_CLIENT = MEASURE_COLUMNS.index("wai_client")


@pytest.fixture(scope="module")
def histories(cohort):
    clients, sessions = cohort
    return build_landmarks(clients, sessions, max_landmark=5).history


def _dropout(trained, history: HistoryBatch) -> np.ndarray:
    return trained.model.dropout.probability(compute_features(history))


def _replace(history: HistoryBatch, **arrays) -> HistoryBatch:
    return HistoryBatch(**{**history.__dict__, **arrays})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_raising_latest_client_alliance_never_raises_dropout_risk(trained, histories, seed):
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(histories), 400, replace=False)
    history = histories.take(rows)
    measures = history.measures.copy()
    recorded = ~np.isnan(measures[:, :, WAI_CLIENT])
    has_score = recorded.any(axis=1)
    latest = history.window - 1 - np.argmax(recorded[:, ::-1], axis=1)
    raised = measures.copy()
    current = measures[np.arange(len(rows)), latest, WAI_CLIENT]
    bump = rng.uniform(0.0, 1.0, len(rows)) * (INSTRUMENTS["wai_client"].high - current)
    raised[np.arange(len(rows)), latest, WAI_CLIENT] = current + bump
    before = _dropout(trained, history)[has_score]
    after = _dropout(trained, _replace(history, measures=raised))[has_score]
    assert has_score.sum() > 100
    assert np.all(after <= before + 1e-9)
    assert np.any(after < before - 1e-4)  # and it does matter somewhere


@pytest.mark.parametrize("seed", [0, 1])
def test_raising_client_alliance_at_every_session_never_raises_dropout_risk(
    trained, histories, seed
):
    rng = np.random.default_rng(seed)
    history = histories.take(rng.choice(len(histories), 400, replace=False))
    wai = history.measures[:, :, WAI_CLIENT]
    # A shift that keeps every score inside the scale, so falls between sessions stay equal.
    room = INSTRUMENTS["wai_client"].high - np.nanmax(np.where(np.isnan(wai), 1.0, wai), axis=1)
    raised = history.measures.copy()
    raised[:, :, WAI_CLIENT] += rng.uniform(0, 1, len(wai))[:, None] * room[:, None]
    before = _dropout(trained, history)
    after = _dropout(trained, _replace(history, measures=raised))
    assert np.all(after <= before + 1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_missed_session_never_lowers_dropout_risk(trained, histories, seed):
    """Latest session missed vs attended without measures: only attendance differs."""
    rng = np.random.default_rng(seed)
    history = histories.take(rng.choice(len(histories), 400, replace=False))
    rows = np.arange(len(history))
    latest = history.as_of_session - 1
    measures = history.measures.copy()
    measures[rows, latest, :] = np.nan
    attended, missed = history.attended.copy(), history.attended.copy()
    attended[rows, latest] = 1.0
    missed[rows, latest] = 0.0
    came = _dropout(trained, _replace(history, measures=measures, attended=attended))
    stayed_away = _dropout(trained, _replace(history, measures=measures, attended=missed))
    assert np.all(stayed_away >= came - 1e-9)
    assert np.mean(stayed_away > came + 1e-4) > 0.5


def test_identifiers_do_not_change_the_score(trained, histories):
    history = histories.take(np.arange(200))
    renamed = _replace(history, client_id=np.array([f"x{i}" for i in range(200)], dtype=object))
    np.testing.assert_array_equal(_dropout(trained, history), _dropout(trained, renamed))


def test_minimum_quality_on_held_out_clients(trained):
    for outcome, floor in (("dropout", 0.70), ("poor_outcome", 0.70)):
        features, labels = trained.held_out[outcome].features, trained.held_out[outcome].labels
        metrics = point_metrics(labels, trained.model.outcome_model(outcome).probability(features))
        assert metrics["auroc"] >= floor, (outcome, metrics["auroc"])
        assert metrics["ece"] <= 0.06, (outcome, metrics["ece"])
