"""tests/support/throughput.py: rounds pooled, ratios taken within each round."""

from __future__ import annotations

import pytest

from tests.support.throughput import Result, median_ratio, pooled, ratio_words, ratios


def _run(server: str, concurrency: int, round_: int, *, answered: int, seconds: float):
    latencies = [0.001 * (i + 1) for i in range(answered)]
    return Result(server, concurrency, latencies, 1, seconds, warmup_ok=3, round=round_)


def test_rounds_are_pooled_per_server_and_level():
    results = [
        _run("ours", 1, 0, answered=100, seconds=1.0),
        _run("ours", 1, 1, answered=300, seconds=2.0),
        _run("mlflow", 1, 0, answered=10, seconds=1.0),
    ]
    merged = pooled(results)
    ours = merged[("ours", 1)]
    assert len(ours.latencies) == 400
    assert ours.errors == 2 and ours.warmup_ok == 6
    assert ours.throughput == pytest.approx(400 / 3.0)
    assert len(merged[("mlflow", 1)].latencies) == 10
    assert results[0].latencies == [0.001 * (i + 1) for i in range(100)]  # inputs untouched


def test_ratios_are_taken_within_each_round():
    results = [
        _run("ours", 1, 0, answered=100, seconds=1.0),  # 100/s
        _run("mlflow", 1, 0, answered=50, seconds=1.0),  # 50/s: 2x
        _run("ours", 1, 1, answered=200, seconds=1.0),  # 200/s
        _run("mlflow", 1, 1, answered=20, seconds=1.0),  # 20/s: 10x
        _run("ours", 1, 2, answered=90, seconds=1.0),  # no peer in this round
    ]
    assert ratios(results, "mlflow", 1) == pytest.approx([2.0, 10.0])
    assert ratios(results, "mlserver", 1) == []
    assert median_ratio(results, "mlserver", 1) is None
    # Pooled throughputs would give 390/3 over 70/2 = 3.7x; rounds keep each pair together.


def test_the_median_of_the_rounds_is_reported_with_each_round():
    results = []
    for round_, theirs in enumerate((50, 20, 40)):  # ours 100/s: 2x, 5x, 2.5x
        results += [
            _run("ours", 1, round_, answered=100, seconds=1.0),
            _run("mlflow", 1, round_, answered=theirs, seconds=1.0),
        ]
    assert median_ratio(results, "mlflow", 1) == pytest.approx(2.5)
    found = ratios(results, "mlflow", 1)
    assert ratio_words(found) == "2.50x (median of 3 rounds: 2.00, 5.00, 2.50)"
    assert ratio_words(found[:1]) == "2.00x"
