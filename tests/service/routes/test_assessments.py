"""Scoring over HTTP: one client, a batch, reading back; every 200 has its audit record."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest

from service.audit import canonical_json
from service.security import Scope

RISK = Scope.RISK_WRITE


def test_scoring_the_api_example_returns_the_contract_shape(
    api, tokens, example_request, registry
):
    answer = api.post("/v1/risk-assessments", json=example_request, headers=tokens.header(RISK))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert uuid.UUID(body["assessment_id"])
    assert body["client_id"] == "c-001"
    assert body["as_of_session"] == 2
    assert body["model"]["name"] == "dropout-risk"
    assert body["model"]["version"] == registry.version
    for outcome in ("dropout", "poor_outcome"):
        risk = body[outcome]
        assert 0 < risk["probability"] < 1
        assert risk["risk_level"] in ("low", "moderate", "high")
        assert risk["factors"], "factors explain every score"
        effects = [abs(f["effect"]) for f in risk["factors"]]
        assert effects == sorted(effects, reverse=True)  # most important first
        for factor in risk["factors"]:
            assert factor["direction"] == ("raises" if factor["effect"] > 0 else "lowers")
            assert factor["text"].endswith(".")
    codes = {s["code"] for s in body["signals"]}
    assert "srs_below_cutoff" in codes  # SRS 33 < 36
    assert "missed_appointments" in codes
    assert body["warnings"] == []
    assert answer.headers["X-Request-ID"]


def test_every_scored_assessment_is_stored_with_its_input_hash(
    audited_api, tokens, example_request
):
    api = audited_api
    answer = api.post("/v1/risk-assessments", json=example_request, headers=tokens.header(RISK))
    assert answer.status_code == 200
    body = answer.json()
    stored = api.get(
        f"/v1/risk-assessments/{body['assessment_id']}", headers=tokens.header(Scope.AUDIT_READ)
    )
    assert stored.status_code == 200, stored.text
    record = stored.json()
    assert record["response"] == body
    assert record["client_id"] == "c-001"
    assert record["model_version"] == body["model"]["version"]
    assert record["request"]["client"]["client_id"] == "c-001"
    expected = hashlib.sha256(canonical_json(record["request"]).encode()).hexdigest()
    assert record["input_sha256"] == expected
    assert json.loads(canonical_json(record["request"]))["sessions"][1]["attended"] is False


def test_more_sessions_than_landmarks_are_scored_at_the_last_landmark(
    api, tokens, example_request, trained
):
    last = trained.model.max_landmark
    sessions = [
        {"session_number": n, "session_date": f"2026-03-{n + 1:02d}", "attended": True, "srs": 38}
        for n in range(1, last + 3)
    ]
    example_request["sessions"] = sessions
    answer = api.post("/v1/risk-assessments", json=example_request, headers=tokens.header(RISK))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["as_of_session"] == last
    assert len(body["warnings"]) == 1 and f"as of session {last}" in body["warnings"][0]


def test_a_batch_answers_each_client_and_stores_each_assessment(
    audited_api, tokens, example_request
):
    api = audited_api
    broken = json.loads(json.dumps(example_request))
    broken["sessions"][0]["srs"] = 99
    second = json.loads(json.dumps(example_request))
    second["client"]["client_id"] = "c-002"
    answer = api.post(
        "/v1/risk-assessments/batch",
        json={"assessments": [example_request, broken, second]},
        headers=tokens.header(RISK),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["succeeded"], body["failed"]) == (2, 1)
    first, bad, good = body["results"]
    assert [r["index"] for r in body["results"]] == [0, 1, 2]
    assert first["status"] == good["status"] == "ok"
    assert good["assessment"]["client_id"] == "c-002"
    assert bad["status"] == "error" and bad["assessment"] is None
    assert bad["error"]["code"] == "validation_error"
    assert [f["path"] for f in bad["error"]["fields"]] == ["sessions[0].srs"]
    for result in (first, good):
        stored = api.get(
            f"/v1/risk-assessments/{result['assessment']['assessment_id']}",
            headers=tokens.header(Scope.AUDIT_READ),
        )
        assert stored.json()["response"] == result["assessment"]


def test_a_batch_scores_each_client_as_if_sent_alone(api, tokens, example_request):
    alone = api.post("/v1/risk-assessments", json=example_request, headers=tokens.header(RISK))
    other = json.loads(json.dumps(example_request))
    other["sessions"] = other["sessions"][:1]
    batch = api.post(
        "/v1/risk-assessments/batch",
        json={"assessments": [other, example_request]},
        headers=tokens.header(RISK),
    )
    together = batch.json()["results"][1]["assessment"]
    for outcome in ("dropout", "poor_outcome"):
        assert together[outcome] == alone.json()[outcome]


@pytest.mark.parametrize(
    ("change", "path", "kind"),
    [
        (lambda r: r["sessions"][0].update(srs=41), "sessions[0].srs", "less_than_equal"),
        (lambda r: r["client"].pop("age"), "client.age", "missing"),
        (lambda r: r["client"].update(gender="x"), "client.gender", "literal_error"),
        (lambda r: r["sessions"][1].update(session_number=3), "sessions[1].session_number",
         "session_order"),
        (lambda r: r["sessions"][0].update(session_date="2026-01-01"), "sessions[0].session_date",
         "session_before_intake"),
        (lambda r: r["sessions"][1].update(phq9=12), "sessions[1].phq9",
         "measure_on_missed_session"),
        (lambda r: r.update(sessions=[r["sessions"][0]] + [
            dict(r["sessions"][0], session_number=n) for n in (2, 3)]),
         "sessions[2].session_date", "too_many_on_one_date"),
        (lambda r: r.update(sessions=[]), "sessions", "too_short"),
        (lambda r: r["client"].update(favourite_colour="red"), "client.favourite_colour",
         "extra_forbidden"),
    ],
)  # fmt: skip
def test_contract_violations_get_422_naming_the_field(
    api, tokens, example_request, change, path, kind
):
    change(example_request)
    answer = api.post("/v1/risk-assessments", json=example_request, headers=tokens.header(RISK))
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["code"] == "validation_error"
    assert body["request_id"] == answer.headers["X-Request-ID"]
    assert {"path": path, "type": kind} in [
        {"path": f["path"], "type": f["type"]} for f in body["fields"]
    ]


def test_every_failing_field_is_listed(api, tokens, example_request):
    example_request["client"]["age"] = 7
    example_request["sessions"][0]["srs"] = -1
    example_request["sessions"][0]["gad7"] = 30
    answer = api.post("/v1/risk-assessments", json=example_request, headers=tokens.header(RISK))
    paths = {f["path"] for f in answer.json()["fields"]}
    assert paths == {"client.age", "sessions[0].srs", "sessions[0].gad7"}


def test_a_body_that_is_not_json_gets_422_in_the_error_shape(api, tokens):
    answer = api.post(
        "/v1/risk-assessments",
        content=b"{not json",
        headers=tokens.header(RISK) | {"Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    assert answer.json()["code"] == "validation_error"


def test_an_unknown_assessment_id_is_404(api, tokens):
    for key in (str(uuid.uuid4()), "not-a-uuid"):
        answer = api.get(f"/v1/risk-assessments/{key}", headers=tokens.header(Scope.AUDIT_READ))
        assert answer.status_code == 404
        assert answer.json()["code"] == "not_found"


def test_a_double_session_on_one_date_is_accepted(api, tokens, example_request):
    first = example_request["sessions"][0]
    example_request["sessions"] = [first, dict(first, session_number=2)]
    answer = api.post("/v1/risk-assessments", json=example_request, headers=tokens.header(RISK))
    assert answer.status_code == 200, answer.text
