"""Hostile and broken input: every request gets a clear 4xx that names the field, never a 5xx.

Oversized bodies (declared or streamed), JSON nested past any parser's depth, bytes that
are not UTF-8, JSON's non-numbers (``NaN``, ``Infinity``), thousands of sessions, repeated
session numbers, dates out of order and scores out of range, on the JSON API and on FHIR.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import anyio
import pytest

from service.fhir.examples import EXAMPLE_BUNDLE
from service.schemas import MAX_SESSIONS
from service.security import Scope

MIB = 1024 * 1024
LIMIT = MIB  # the default max_body_bytes
FHIR_URL = "/fhir/r4/$assess-dropout-risk"
FHIR_JSON = "application/fhir+json"
#: Operations that read a body, each with the scope a token needs.
BODY_ROUTES = [
    ("/v1/risk-assessments", Scope.RISK_WRITE),
    ("/v1/risk-assessments/batch", Scope.RISK_WRITE),
    ("/v1/outcomes", Scope.OUTCOMES_WRITE),
    (FHIR_URL, Scope.RISK_WRITE),
    ("/cds-services/psychotherapy-risk", None),
    ("/cds-services/psychotherapy-risk/feedback", None),
]
BODY_IDS = [path for path, _ in BODY_ROUTES]


def _headers(tokens, scope: Scope | None) -> dict[str, str]:
    return {"Content-Type": "application/json", **(tokens.header(scope) if scope else {})}


def _fields(answer, status: int = 422) -> dict[str, str]:
    """The failing fields of an error answer: path -> type (after checking the shape)."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"code", "message", "fields", "request_id"}
    assert body["request_id"] == answer.headers["X-Request-ID"]
    return {field["path"]: field["type"] for field in body["fields"]}


def _issues(answer, status: int) -> dict[str, str]:
    """The issues of an OperationOutcome answer: expression -> diagnostics."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == FHIR_JSON
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    return {issue["expression"][0]: issue["diagnostics"] for issue in outcome["issue"]}


def _assess(api, tokens, body: bytes | str) -> Any:
    headers = _headers(tokens, Scope.RISK_WRITE)
    return api.post("/v1/risk-assessments", content=body, headers=headers)


# --- size -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "scope"), BODY_ROUTES, ids=BODY_IDS)
def test_a_declared_body_over_the_limit_is_413_before_anything_else(api, tokens, path, scope):
    body = b"[" + b"0," * MIB + b"0]"  # 2 MiB of valid JSON
    for headers in (_headers(tokens, scope), {"Content-Type": "application/json"}):
        answer = api.post(path, content=body, headers=headers)
        assert answer.status_code == 413, answer.text
        error = answer.json()
        assert error["code"] == "payload_too_large"
        assert str(LIMIT) in error["message"]
        assert error["request_id"] == answer.headers["X-Request-ID"]


def test_a_body_at_the_limit_is_read(api, tokens, example_request):
    body = json.dumps(example_request).encode()
    padded = body[:-1] + b" " * (LIMIT - len(body)) + b"}"  # exactly the limit, valid JSON
    assert len(padded) == LIMIT
    assert _assess(api, tokens, padded).status_code == 200


def _stream_to_app(app, body: bytes, *, chunk: int) -> tuple[int, dict[str, Any], int]:
    """Send ``body`` to ``app`` in chunks with no Content-Length, as chunked HTTP does.

    Returns the status, the JSON answer and how many bytes the app pulled.
    """
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        piece = body[pulled : pulled + chunk]
        pulled += len(piece)
        return {"type": "http.request", "body": piece, "more_body": pulled < len(body)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/risk-assessments",
        "raw_path": b"/v1/risk-assessments",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
        "client": ("192.0.2.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    anyio.run(app, scope, receive, send)
    (start,) = (m for m in sent if m["type"] == "http.response.start")
    answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(answer), pulled


def test_a_streamed_body_is_cut_off_just_past_the_limit(api):
    chunk = 64 * 1024
    status, error, pulled = _stream_to_app(api.app, b"[" + b"0," * MIB + b"0]", chunk=chunk)
    assert status == 413
    assert error["code"] == "payload_too_large"
    # Reading stopped at the first chunk past the limit, not at the end of the body.
    assert LIMIT < pulled <= LIMIT + chunk


def test_a_streamed_body_under_the_limit_is_read(api, tokens, example_request):
    # Chunked, without Content-Length: the counted path lets it through whole.
    def chunks():
        body = json.dumps(example_request).encode()
        for start in range(0, len(body), 100):
            yield body[start : start + 100]

    answer = api.post(
        "/v1/risk-assessments", content=chunks(), headers=_headers(tokens, Scope.RISK_WRITE)
    )
    assert answer.status_code == 200, answer.text


def test_over_http_chunked_and_declared_bodies_over_the_limit_are_413(over_http, tokens):
    def chunked(total: int) -> Iterator[bytes]:
        yield b"["
        for _ in range(total // 65_536):
            yield b"0," * 32_768
        yield b"0]"

    headers = _headers(tokens, Scope.RISK_WRITE)
    for body in (chunked(4 * MIB), b"[" + b"0," * MIB + b"0]"):
        answer = over_http.post("/v1/risk-assessments", content=body, headers=headers)
        assert answer.status_code == 413, answer.text
        assert answer.json()["code"] == "payload_too_large"
    # The connection and the server are fine afterwards.
    assert over_http.get("/ready").status_code == 200


# --- bodies that are not JSON ------------------------------------------------------------


@pytest.mark.parametrize(("path", "scope"), BODY_ROUTES[:4], ids=BODY_IDS[:4])
def test_json_nested_past_the_parser_is_a_4xx(api, tokens, path, scope):
    deep = b"[" * 100_000 + b"]" * 100_000
    for body in (deep, b'{"client": ' * 50_000 + b"1" + b"}" * 50_000):
        answer = api.post(path, content=body, headers=_headers(tokens, scope))
        assert 400 <= answer.status_code < 500, answer.text
    assert api.get("/health").status_code == 200  # and the process is fine


@pytest.mark.parametrize(("path", "scope"), BODY_ROUTES[:3], ids=BODY_IDS[:3])
def test_bytes_that_are_not_utf8_are_a_4xx(api, tokens, path, scope):
    for body in (b"\xff\xfe\x00\x00", b'{"client": "\xc3\x28"}', b"\x80" * 64):
        answer = api.post(path, content=body, headers=_headers(tokens, scope))
        assert answer.status_code in (400, 422), answer.text
        assert answer.json()["code"] in ("bad_request", "validation_error")


def test_fhir_answers_unreadable_bodies_with_an_operation_outcome(api, tokens):
    for body in (b"\xff\xfe\x00\x00", b"[" * 100_000 + b"]" * 100_000, b'{"a": NaN}'):
        answer = api.post(FHIR_URL, content=body, headers=_headers(tokens, Scope.RISK_WRITE))
        assert _issues(answer, 400) == {"Bundle": "the body is not valid JSON"}


# --- bodies that are JSON but break the contract -------------------------------------------


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize(
    ("where", "path"),
    [("srs", "sessions[0].srs"), ("phq9", "sessions[0].phq9"), ("age", "client.age")],
)
def test_json_non_numbers_are_422_at_their_field(api, tokens, example_request, token, where, path):
    marker = "__not_a_number__"
    if where == "age":
        example_request["client"]["age"] = marker
    else:
        example_request["sessions"][0][where] = marker
    body = json.dumps(example_request).replace(f'"{marker}"', token)  # a raw JSON token
    assert token in body
    fields = _fields(_assess(api, tokens, body))
    assert path in fields, fields


def test_thousands_of_sessions_are_422_at_sessions(api, tokens, example_request):
    start = date.fromisoformat(example_request["client"]["intake_date"])
    example_request["sessions"] = [
        {"session_number": n, "session_date": str(start + timedelta(n)), "attended": False}
        for n in range(1, 5001)
    ]
    body = json.dumps(example_request)
    assert len(body) < LIMIT  # refused for its sessions, not its size
    fields = _fields(_assess(api, tokens, body))
    assert fields == {"sessions": "too_long"}
    assert str(MAX_SESSIONS) in _assess(api, tokens, body).json()["fields"][0]["message"]


def test_repeated_session_numbers_are_422_at_the_number(api, tokens, example_request):
    example_request["sessions"][1]["session_number"] = 1
    fields = _fields(_assess(api, tokens, json.dumps(example_request)))
    assert fields == {"sessions[1].session_number": "session_order"}


def test_dates_out_of_order_are_422_at_the_date(api, tokens, example_request):
    example_request["sessions"].append(
        {"session_number": 3, "session_date": "2026-03-05", "attended": False}
    )  # after session 2's 2026-03-09
    fields = _fields(_assess(api, tokens, json.dumps(example_request)))
    assert fields == {"sessions[2].session_date": "session_date_order"}
    example_request["sessions"][0]["session_date"] = "2026-02-01"  # before intake
    fields = _fields(_assess(api, tokens, json.dumps(example_request)))
    assert fields["sessions[0].session_date"] == "session_before_intake"


@pytest.mark.parametrize(
    ("measure", "value", "kind"),
    [
        ("srs", 40.5, "less_than_equal"),
        ("srs", -1, "greater_than_equal"),
        ("phq9", 28, "less_than_equal"),
        ("gad7", -3, "greater_than_equal"),
        ("wai_client", 5.01, "less_than_equal"),
        ("phq9", 1e308, None),  # any rule will do, as long as it is this field's
    ],
)
def test_scores_out_of_range_are_422_at_the_score(
    api, tokens, example_request, measure, value, kind
):
    example_request["sessions"][0][measure] = value
    fields = _fields(_assess(api, tokens, json.dumps(example_request)))
    path = f"sessions[0].{measure}"
    assert path in fields, fields
    assert kind is None or fields[path] == kind, fields


def test_batch_items_name_their_fields_relative_to_the_item(api, tokens, example_request):
    broken = copy.deepcopy(example_request)
    broken["sessions"][1]["session_number"] = 1
    broken["sessions"][0]["srs"] = 99
    body = json.dumps({"assessments": [example_request, broken]})
    answer = api.post(
        "/v1/risk-assessments/batch", content=body, headers=_headers(tokens, Scope.RISK_WRITE)
    )
    assert answer.status_code == 200, answer.text
    ok, failed = answer.json()["results"]
    assert ok["status"] == "ok" and failed["status"] == "error"
    paths = {field["path"] for field in failed["error"]["fields"]}
    assert paths == {"sessions[0].srs"}  # the model rule runs once the fields are valid


def test_fhir_thousands_of_sessions_are_422(api, tokens):
    bundle = copy.deepcopy(EXAMPLE_BUNDLE)
    template = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")
    start = date(2026, 3, 2)
    for n in range(1000):
        entry = copy.deepcopy(template)
        day = (start + timedelta(days=n + 1)).isoformat()
        entry["fullUrl"] = f"https://ehr.example.org/fhir/Encounter/extra-{n}"
        entry["resource"]["id"] = f"extra-{n}"
        entry["resource"]["period"] = {"start": f"{day}T10:00:00Z", "end": f"{day}T10:50:00Z"}
        bundle["entry"].append(entry)
    body = json.dumps(bundle)
    assert len(body) < LIMIT
    answer = api.post(FHIR_URL, content=body, headers=_headers(tokens, Scope.RISK_WRITE))
    issues = _issues(answer, 422)
    assert any(f"at most {MAX_SESSIONS}" in text for text in issues.values()), issues


def test_a_link_signature_that_is_not_ascii_is_refused_not_an_error(api):
    # Found by the fuzzer: hmac.compare_digest raises TypeError on non-ASCII text.
    far = 4_000_000_000
    for path in ("/reports/0", "/models/1/card"):
        for signature in ("%C2%80", "%E2%82%AC" * 32, "%00"):
            answer = api.get(f"{path}?expires={far}&signature={signature}")
            assert answer.status_code == 403, answer.text
