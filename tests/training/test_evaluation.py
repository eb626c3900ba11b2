"""Evaluation tables: ECE bins, the decision curve and interval validity, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from models.metrics import expected_calibration_error
from training.evaluation import decision_curve, interval_validity


def test_ece_uses_ten_bins_of_equal_frequency():
    # 100 rows: predictions 0.01..1.00; the first 50 never have the outcome, the last 50
    # always. Equal-frequency bins of 10 rows: each bin's gap is |mean p - observed|.
    probability = np.arange(1, 101) / 100
    labels = (np.arange(100) >= 50).astype(float)
    gaps = [
        abs(probability[i : i + 10].mean() - labels[i : i + 10].mean()) for i in range(0, 100, 10)
    ]
    assert expected_calibration_error(labels, probability) == pytest.approx(np.mean(gaps))


def test_ece_bins_follow_the_weights():
    probability = np.array([0.1, 0.2, 0.3, 0.4])
    labels = np.array([0.0, 1.0, 0.0, 1.0])
    doubled = expected_calibration_error(np.repeat(labels, 2), np.repeat(probability, 2))
    weighted = expected_calibration_error(labels, probability, np.full(4, 2.0))
    assert weighted == pytest.approx(doubled)


def test_net_benefit_by_hand():
    labels = np.array([1, 1, 0, 0, 0])
    probability = np.array([0.9, 0.2, 0.6, 0.1, 0.05])
    row = decision_curve(labels, probability, thresholds=(0.5,)).iloc[0]
    # flagged at 0.5: rows 0 (event) and 2 (non-event); odds 1.
    assert row["model"] == pytest.approx(1 / 5 - 1 / 5)
    assert row["flag_all"] == pytest.approx(2 / 5 - 3 / 5)
    assert row["flag_none"] == 0
    assert row["flagged"] == pytest.approx(2 / 5)


def test_interval_validity_says_where_the_observed_rate_falls_outside():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    low = np.array([0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5])
    high = np.array([0.1, 0.1, 0.1, 0.1, 0.6, 0.6, 0.6, 0.6])
    table = interval_validity(labels, low, high, bins=2)
    assert table["inside"].tolist() == [True, False]
    # An observed rate of 0 or 1 has no binomial noise: the miss stands.
    assert table["holds"].tolist() == [True, False]
    assert table["observed"].tolist() == [0.0, 1.0]


def test_interval_validity_allows_the_noise_of_a_small_bin():
    rng = np.random.default_rng(0)
    labels = (rng.uniform(size=200) < 0.3).astype(float)
    labels[:] = 0
    labels[:62] = 1  # observed 0.31, interval 0.28-0.30: outside, but within noise
    table = interval_validity(labels, np.full(200, 0.28), np.full(200, 0.30), bins=1)
    assert table["inside"].tolist() == [False] and table["holds"].tolist() == [True]
