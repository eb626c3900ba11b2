"""GET /v1/monitoring and the periodic check behind /ready and /metrics, on both databases."""

from __future__ import annotations

import copy
import threading
import time

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from monitoring.settings import MonitoringSettings
from service.security import Scope

OUTCOMES = {"c-0": "dropout", "c-1": "completed", "c-2": "dropout", "c-3": "completed"}


@pytest.fixture
def monitored_api(registry, make_settings, audit_url):
    """The app auditing to each backend, with alert thresholds low enough to fire on 4 clients."""
    from service.app import create_app

    settings = make_settings(
        tracking_uri=registry.tracking_uri,
        database_url=audit_url,
        monitoring=MonitoringSettings(
            interval_seconds=0,  # checks run when the test says
            min_assessments=1,
            feature_psi=0.5,
            min_labelled=1,
            max_calibration_gap=0.01,
        ),
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _score_and_report(api, tokens, example_request):
    for number, (client_id, termination) in enumerate(OUTCOMES.items()):
        body = copy.deepcopy(example_request)
        body["client"]["client_id"] = client_id
        body["sessions"][0]["phq9"] = 5 + 4 * number  # different clients, different scores
        answer = api.post("/v1/risk-assessments", json=body, headers=tokens.header())
        assert answer.status_code == 200
        outcome = {
            "client_id": client_id,
            "clinic_id": body["client"]["clinic_id"],
            "termination": termination,
            "end_date": "2026-04-30",
        }
        assert api.post("/v1/outcomes", json=outcome, headers=tokens.header()).status_code == 201


def test_the_report_covers_scores_drift_and_realised_performance(
    monitored_api, tokens, example_request, registry
):
    _score_and_report(monitored_api, tokens, example_request)
    answer = monitored_api.get("/v1/monitoring", headers=tokens.header(Scope.AUDIT_READ))
    assert answer.status_code == 200, answer.text
    report = answer.json()
    (window,) = report["windows"]
    assert window["model_version"] == registry.version
    assert (window["assessments"], window["clients"]) == (4, 4)
    assert 0 <= window["scores"]["dropout"]["mean"] <= 1
    assert set(window["drift"]["availability"]) >= {"phq9", "gad7", "srs"}
    realised = window["realised"]["dropout"]
    assert (realised["labelled"], realised["events"]) == (4, 2)
    assert realised["observed_rate"] == 0.5
    assert realised["auroc"]["value"] is not None
    assert report["thresholds"]["min_assessments"] == 1
    assert {alert["code"] for alert in report["alerts"]} >= {"calibration"}


def test_a_version_filter_and_an_empty_period(monitored_api, tokens, example_request):
    _score_and_report(monitored_api, tokens, example_request)
    header = tokens.header(Scope.AUDIT_READ)
    other = monitored_api.get("/v1/monitoring?model_version=999", headers=header).json()
    assert other["windows"] == [] and other["alerts"] == []
    past = "since=2020-01-01T00:00:00Z&until=2020-02-01T00:00:00Z"
    assert monitored_api.get(f"/v1/monitoring?{past}", headers=header).json()["windows"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=2026-01-01T00:00:00", "since"),
        ("until=2026-01-01T00:00:00", "until"),
        ("since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", "since"),
        ("window_days=0", "window_days"),
        ("since=yesterday", "since"),
    ],
)
def test_a_bad_period_is_a_422_naming_the_field(monitored_api, tokens, query, field):
    answer = monitored_api.get(f"/v1/monitoring?{query}", headers=tokens.header(Scope.AUDIT_READ))
    assert answer.status_code == 422
    assert [item["path"] for item in answer.json()["fields"]] == [field]


def _alert_gauges(api, tokens):
    text = api.get("/metrics", headers=tokens.header(Scope.METRICS_READ)).text
    return {
        sample.labels["code"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "dropout_risk_monitoring_alerts"
    }


def test_the_periodic_check_shows_alerts_in_ready_and_metrics(
    monitored_api, tokens, example_request
):
    ready = monitored_api.get("/ready").json()
    assert ready["monitoring"]["checked_at"] is None and ready["monitoring"]["alerts"] == []
    assert set(_alert_gauges(monitored_api, tokens).values()) == {0.0}

    _score_and_report(monitored_api, tokens, example_request)
    status = monitored_api.app.state.runtime.monitoring.check()
    assert status.alerts and status.error is None

    ready = monitored_api.get("/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"  # alerts don't unready
    shown = ready.json()["monitoring"]
    assert shown["checked_at"] is not None
    assert {a["code"] for a in shown["alerts"]} == {a.code for a in status.alerts}
    gauges = _alert_gauges(monitored_api, tokens)
    for code, value in gauges.items():
        assert value == sum(a.code == code for a in status.alerts)
    assert gauges["calibration"] >= 1


def test_each_check_reads_only_what_was_stored_since_and_forgets_the_erased(
    monitored_api, tokens, example_request, monkeypatch
):
    runtime = monitored_api.app.state.runtime
    read_scores = runtime.audit.assessment_scores
    asked: list[list[str]] = []

    def spy(ids):
        asked.append(sorted(ids))
        return read_scores(ids)

    monkeypatch.setattr(runtime.audit, "assessment_scores", spy)

    def alerts_of_check_and_of_a_full_read():
        asked.clear()
        status = runtime.monitoring.check()
        assert status.error is None
        full = runtime.monitoring.report(since=None, until=None, window=None)
        return (
            sorted((a.code, a.subject, a.value) for a in status.alerts),
            sorted((a.code, a.subject, a.value) for a in full.alerts),
        )

    def read_by_the_check():
        return sorted(key for ids in asked for key in ids)

    _score_and_report(monitored_api, tokens, example_request)
    checked, full = alerts_of_check_and_of_a_full_read()
    assert checked == full and checked
    assert len(read_by_the_check()) == len(OUTCOMES)

    body = copy.deepcopy(example_request)
    body["client"]["client_id"] = "c-4"
    answer = monitored_api.post("/v1/risk-assessments", json=body, headers=tokens.header())
    checked, full = alerts_of_check_and_of_a_full_read()
    assert checked == full
    assert read_by_the_check() == [answer.json()["assessment_id"]]

    before_erasure = checked
    runtime.audit.eraser.erase(
        clinic_id=body["client"]["clinic_id"], client_id="c-0", erased_by="test", reason="test"
    )
    checked, full = alerts_of_check_and_of_a_full_read()
    assert checked == full and checked != before_erasure
    assert read_by_the_check() == []

    # A check that cannot read the store drops what it held: the next one reads it all.
    with monkeypatch.context() as failing:
        failing.setattr(runtime.audit, "assessment_ids", _unavailable)
        assert "database is down" in runtime.monitoring.check().error
    checked, full = alerts_of_check_and_of_a_full_read()
    assert checked == full
    assert len(read_by_the_check()) == len(OUTCOMES)  # c-0 erased, c-4 added


def test_a_failed_check_keeps_serving_and_says_why(monitored_api, tokens, monkeypatch):
    runtime = monitored_api.app.state.runtime
    # The check reads ids first, the report on demand reads records: both fail.
    monkeypatch.setattr(runtime.audit, "assessment_ids", _unavailable)
    monkeypatch.setattr(runtime.audit, "assessments", _unavailable)
    status = runtime.monitoring.check()
    assert "database is down" in status.error
    assert monitored_api.get("/ready").json()["monitoring"]["error"] == status.error
    answer = monitored_api.get("/v1/monitoring", headers=tokens.header(Scope.AUDIT_READ))
    assert answer.status_code == 503 and answer.json()["code"] == "audit_unavailable"


def _unavailable(**_):
    from service.audit import AuditUnavailableError

    raise AuditUnavailableError("cannot read audit records: database is down")


class _PauseSpy:
    """Stands in for the watcher's stopping event: notes each pause, stops when told."""

    def __init__(self, *, stopping: bool = False) -> None:
        self.pauses: list[float] = []
        self.stopping = stopping

    def wait(self, timeout: float) -> bool:
        self.pauses.append(timeout)
        return self.stopping

    def set(self) -> None:  # the app stops after the test
        self.stopping = True

    def clear(self) -> None:
        self.stopping = False


def _paced(runtime, monkeypatch, *, slice_size: int, read_seconds: float, stopping=False):
    """Slices of ``slice_size`` records, each read taking ``read_seconds`` at least; returns
    the ids of each read and the spy that notes the pauses."""
    import service.watcher

    monkeypatch.setattr(service.watcher, "_CATCH_UP_SLICE", slice_size)
    read_scores = runtime.audit.assessment_scores
    asked: list[list[str]] = []

    def slow(ids):
        asked.append(list(ids))
        time.sleep(read_seconds)
        return read_scores(ids)

    monkeypatch.setattr(runtime.audit, "assessment_scores", slow)
    spy = _PauseSpy(stopping=stopping)
    monkeypatch.setattr(runtime.monitoring, "_stopping", spy)
    return asked, spy


@pytest.mark.parametrize(("share", "least_ratio"), [(0.5, 1.0), (0.25, 3.0)])
def test_a_check_catching_up_reads_in_slices_and_pauses_between_them(
    registry, make_settings, audit_url, tokens, example_request, monkeypatch, share, least_ratio
):
    from service.app import create_app

    settings = make_settings(
        tracking_uri=registry.tracking_uri,
        database_url=audit_url,
        monitoring=MonitoringSettings(
            interval_seconds=0, catch_up_share=share, min_assessments=1, min_labelled=1,
            max_calibration_gap=0.01,
        ),
    )  # fmt: skip
    with TestClient(create_app(settings)) as api:
        runtime = api.app.state.runtime
        _score_and_report(api, tokens, example_request)
        asked, spy = _paced(runtime, monkeypatch, slice_size=3, read_seconds=0.02)
        status = runtime.monitoring.check()
        full = runtime.monitoring.report(since=None, until=None, window=None)

    assert [len(ids) for ids in asked] == [3, 1]  # 4 assessments: slices of 3, then the rest
    # A share s of the time: a pause of (1 - s) / s times the slice's, which took >= 0.02 s.
    assert len(spy.pauses) == 1 and spy.pauses[0] >= 0.02 * least_ratio
    assert sorted((a.code, a.subject, a.value) for a in status.alerts) == sorted(
        (a.code, a.subject, a.value) for a in full.alerts
    )
    assert status.alerts


def test_a_check_stopped_while_catching_up_keeps_the_last_complete_status(
    monitored_api, tokens, example_request, monkeypatch
):
    runtime = monitored_api.app.state.runtime
    _score_and_report(monitored_api, tokens, example_request)
    complete = runtime.monitoring.check()
    assert complete.alerts and complete.error is None
    for client_id in ("c-4", "c-5"):  # a backlog of two for the next check
        body = copy.deepcopy(example_request)
        body["client"]["client_id"] = client_id
        assert monitored_api.post(
            "/v1/risk-assessments", json=body, headers=tokens.header()
        ).status_code == 200  # fmt: skip
    asked, _ = _paced(runtime, monkeypatch, slice_size=1, read_seconds=0.0, stopping=True)

    assert runtime.monitoring.check() is complete
    assert len(asked) == 1  # it stopped at the first pause


def test_stopping_the_service_wakes_a_check_pausing_in_its_catch_up(
    registry, make_settings, audit_url, tokens, example_request, monkeypatch
):
    import service.watcher
    from service.app import create_app

    settings = make_settings(
        tracking_uri=registry.tracking_uri,
        database_url=audit_url,
        monitoring=MonitoringSettings(interval_seconds=0, catch_up_share=0.1),
    )
    with TestClient(create_app(settings)) as api:
        runtime = api.app.state.runtime
        _score_and_report(api, tokens, example_request)
        before = runtime.monitoring.status
        monkeypatch.setattr(service.watcher, "_CATCH_UP_SLICE", 1)
        first_read = threading.Event()
        read_scores = runtime.audit.assessment_scores

        def slow(ids):
            time.sleep(2.0)  # at share 0.1, a pause of at least 18 s follows
            first_read.set()
            return read_scores(ids)

        monkeypatch.setattr(runtime.audit, "assessment_scores", slow)
        finished: list[object] = []
        checking = threading.Thread(target=lambda: finished.append(runtime.monitoring.check()))
        checking.start()
        assert first_read.wait(timeout=30)
        runtime.monitoring.stop()  # the real event: what the service's shutdown calls
        checking.join(timeout=15)  # well inside the pause it was in

        assert not checking.is_alive() and finished == [before]
        monkeypatch.setattr(runtime.audit, "assessment_scores", read_scores)
        runtime.monitoring.start()  # interval 0: no thread; a check after it runs whole
        assert runtime.monitoring.check().checked_at is not None
