"""Monitoring from audit records: windows, realised metrics, alerts, the HTML report."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from features.contract import validate_extract
from features.labels import derive_labels
from monitoring.alerts import AlertThresholds
from monitoring.render import render_monitoring_report
from monitoring.report import monitor
from tests.support.records import START, reported_outcomes, scored_records
from training.synth import simulate_cohort


@pytest.fixture(scope="module")
def clinic(trained):
    """600 new clients scored at every landmark, an assessment a minute, and their outcomes."""
    simulated = simulate_cohort(n_clients=600, seed=321)
    report = validate_extract(simulated.clients, simulated.sessions)
    records = scored_records(report.clients, report.sessions, trained.model)
    outcomes = reported_outcomes(report.clients, at=records[-1].created_at + timedelta(days=1))
    return report.clients, report.sessions, records, outcomes


def _direct_labels(clients, sessions, records):
    """Labels computed here without the export: episodes as far as they were scored."""
    scored_to = pd.Series({r.client_id: r.as_of_session for r in records}).groupby(level=0).max()
    seen = sessions[sessions["session_number"] <= sessions["client_id"].map(scored_to)]
    return derive_labels(clients, seen)


def test_realised_metrics_match_a_direct_computation(clinic):
    clients, sessions, records, outcomes = clinic
    report = monitor(records, outcomes, references={}, replicates=50)
    (window,) = report.windows
    labels = _direct_labels(clients, sessions, records)
    for outcome in ("dropout", "poor_outcome"):
        label = labels[outcome].astype("Float64")
        pairs = [
            (float(label[r.client_id]), r.response[outcome]["probability"])
            for r in records
            if not pd.isna(label[r.client_id])
        ]
        y, p = np.array(pairs).T
        realised = window.realised[outcome]
        assert realised["labelled"] == len(y)
        assert realised["events"] == int(y.sum())
        assert realised["auroc"].value == pytest.approx(roc_auc_score(y, p), abs=1e-9)
        assert realised["brier"].value == pytest.approx(brier_score_loss(y, p), abs=1e-9)
        assert realised["calibration_in_the_large"].value == pytest.approx(
            y.mean() - p.mean(), abs=1e-12
        )
        assert realised["auroc"].low < realised["auroc"].value < realised["auroc"].high


def test_no_outcome_reported_means_no_realised_metrics(clinic):
    _, _, records, _ = clinic
    (window,) = monitor(records, [], references={}).windows
    assert window.realised == {"dropout": None, "poor_outcome": None}
    assert window.drift is None and "no training profile" in window.drift_note


def test_windows_split_by_time_and_by_model_version(clinic):
    _, _, records, outcomes = clinic
    half = len(records) // 2
    mixed = records[:half] + [replace(r, model_version="2") for r in records[half:]]
    report = monitor(
        mixed, outcomes, references={}, since=START, window=timedelta(hours=2), replicates=0
    )
    expected = {(r.model_version, int((r.created_at - START) / timedelta(hours=2))) for r in mixed}
    assert len(report.windows) == len(expected)
    assert sum(w.assessments for w in report.windows) == len(records)
    for window in report.windows:
        assert window.end - window.start <= timedelta(hours=2)
        inside = [
            r
            for r in mixed
            if r.model_version == window.model_version
            and window.start <= r.created_at < window.end
        ]
        assert window.assessments == len(inside)
        mean = np.mean([r.response["dropout"]["probability"] for r in inside])
        assert window.scores["dropout"]["mean"] == pytest.approx(mean)


def test_only_assessments_in_the_period_count(clinic):
    _, _, records, outcomes = clinic
    since, until = records[10].created_at, records[20].created_at
    (window,) = monitor(records, outcomes, references={}, since=since, until=until).windows
    assert window.assessments == 10


def test_thresholds_raise_alerts_for_discrimination_and_calibration(clinic):
    _, _, records, outcomes = clinic
    strict = AlertThresholds(min_auroc=0.99, max_calibration_gap=1e-6, min_labelled=10)
    alerts = monitor(records, outcomes, references={}, thresholds=strict, replicates=0).alerts
    codes = {(a.code, a.subject) for a in alerts}
    assert {("discrimination", "dropout"), ("calibration", "dropout")} <= codes
    lenient = AlertThresholds(min_auroc=0.0, max_calibration_gap=1.0)
    assert monitor(records, outcomes, references={}, thresholds=lenient, replicates=0).alerts == []
    # Too few labelled assessments: no judgement, however bad the figures.
    scarce = strict.model_copy(update={"min_labelled": 10**6})
    assert monitor(records, outcomes, references={}, thresholds=scarce, replicates=0).alerts == []


def test_the_report_is_json_and_renders_as_html_with_plots(trained, clinic):
    _, _, records, outcomes = clinic
    report = monitor(
        records,
        outcomes,
        references={"1": trained.model.metadata["reference"]},
        since=START,
        window=timedelta(hours=3),
        replicates=20,
    ).to_dict()
    json.dumps(report, allow_nan=False)  # strict JSON: NaN became null
    html = render_monitoring_report(report)
    assert html.count("<svg") >= 5  # two score plots, the shifts, two realised plots
    assert "Model version 1" in html and "Largest input shifts" in html
    assert "realised AUROC" in html
