"""Strict input at the edge: no string coercion, plausible dates, at most two appointments
a day; the failed-authentication limit per client behind a proxy; the link lifetime."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from service.security import Scope


def _fields(answer) -> list[str]:
    assert answer.status_code == 422, answer.text
    return [field["path"] for field in answer.json()["fields"]]


@pytest.mark.parametrize(
    ("where", "value", "path"),
    [
        (("sessions", 0, "phq9"), "18", "sessions[0].phq9"),
        (("sessions", 0, "attended"), "yes", "sessions[0].attended"),
        (("sessions", 1, "attended"), 1, "sessions[1].attended"),
        (("client", "age"), "34", "client.age"),
        (("client", "prior_treatment"), "false", "client.prior_treatment"),
        (("client", "intake_date"), "0001-01-01", "client.intake_date"),
        (("client", "intake_date"), "9999-12-30", "client.intake_date"),
    ],
)
def test_strings_for_numbers_and_booleans_and_implausible_dates_are_422(
    api, tokens, example_request, where, value, path
):
    body = copy.deepcopy(example_request)
    target = body
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    answer = api.post("/v1/risk-assessments", json=body, headers=tokens.header())
    assert path in _fields(answer)


def test_json_numbers_in_either_spelling_are_accepted(api, tokens, example_request):
    body = copy.deepcopy(example_request)
    body["sessions"][0] |= {"phq9": 18.0, "srs": 33.0}
    body["client"]["age"] = 34.0
    assert api.post("/v1/risk-assessments", json=body, headers=tokens.header()).status_code == 200


def test_a_session_dated_beyond_tomorrow_is_422(api, tokens, example_request):
    body = copy.deepcopy(example_request)
    body["sessions"][1]["session_date"] = (date.today() + timedelta(days=2)).isoformat()
    assert "sessions[1].session_date" in _fields(
        api.post("/v1/risk-assessments", json=body, headers=tokens.header())
    )


def test_more_than_two_appointments_on_one_date_is_422(api, tokens, example_request):
    body = copy.deepcopy(example_request)
    first = body["sessions"][0]
    day = first["session_date"]
    body["sessions"] = [first] + [
        {"session_number": n, "session_date": day, "attended": False} for n in (2, 3)
    ]
    assert _fields(api.post("/v1/risk-assessments", json=body, headers=tokens.header())) == [
        "sessions[2].session_date"
    ]
    body["sessions"] = body["sessions"][:2]  # a double session is fine
    assert api.post("/v1/risk-assessments", json=body, headers=tokens.header()).status_code == 200


def test_an_implausible_end_date_is_422(api, tokens):
    report = {"client_id": "c-1", "clinic_id": "north", "termination": "dropout",
              "end_date": "9999-12-30"}  # fmt: skip
    answer = api.post("/v1/outcomes", json=report, headers=tokens.header(Scope.OUTCOMES_WRITE))
    assert _fields(answer) == ["end_date"]


def test_behind_a_trusted_proxy_one_bad_caller_does_not_lock_out_the_others(
    registry, make_settings, tmp_path, tokens
):
    from service.app import create_app

    settings = make_settings(
        tracking_uri=registry.tracking_uri,
        database_url=f"sqlite:///{tmp_path / 'audit.db'}",
        auth_failures_per_minute=3,
        trusted_proxies=["testclient"],  # TestClient's peer address: the proxy here
    )
    with TestClient(create_app(settings)) as api:
        bad = {"Authorization": "Bearer drk_wrong", "X-Forwarded-For": "203.0.113.9"}
        statuses = [api.get("/v1/models/current", headers=bad).status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        good = tokens.header(Scope.MODELS_READ) | {"X-Forwarded-For": "203.0.113.10"}
        assert api.get("/v1/models/current", headers=good).status_code == 200
        # A forged header from a client that is not a proxy would be ignored: the bad
        # caller cannot escape its limit by inventing addresses through us.
        forged = bad | {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
        assert api.get("/v1/models/current", headers=forged).status_code == 429


def test_the_report_link_lifetime_setting_is_honoured(registry, make_settings, tmp_path):
    from service.app import create_app
    from service.reports.links import report_subject

    settings = make_settings(
        tracking_uri=registry.tracking_uri,
        database_url=f"sqlite:///{tmp_path / 'audit.db'}",
        report_link_lifetime_seconds=600,
    )
    with TestClient(create_app(settings)) as api:
        links = api.app.state.runtime.links
        query = parse_qs(urlsplit("?" + links.query(report_subject("x"), now=1000)).query)
    assert int(query["expires"][0]) == 1600
