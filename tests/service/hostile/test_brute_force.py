"""Guessing tokens: after ``auth_failures_per_minute`` failures an address gets 429 for a while.

The counting window is checked on its own with a clock the test moves; the service is
checked over HTTP with its real clock, where a minute never passes within a test.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.cds.prefetch import SERVICE_ID
from service.limits import AuthFailureLimitMiddleware, FailureWindow
from service.security import Scope

WRONG = {"Authorization": "Bearer drk_a-guess"}
DEFAULT_LIMIT = 30


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _assert_refused(answer) -> int:
    """Check a 429 answer; return its Retry-After."""
    assert answer.status_code == 429, answer.text
    body = answer.json()
    assert body["code"] == "too_many_requests"
    assert body["request_id"] == answer.headers["X-Request-ID"]
    wait = int(answer.headers["Retry-After"])
    assert 1 <= wait <= 60
    assert str(wait) in body["message"]
    return wait


# --- the window -----------------------------------------------------------------------------


def test_the_window_refuses_the_failure_after_the_limit_until_the_oldest_is_a_minute_old():
    clock = Clock()
    window = FailureWindow(3, clock=clock)
    for second in range(3):
        assert window.retry_after("a") is None
        clock.now = 1000.0 + second
        window.record_failure("a")
    assert window.retry_after("a") == 58  # the oldest failure (t=1000) leaves at t=1060
    clock.now = 1059.5
    assert window.retry_after("a") == 1
    clock.now = 1060.0
    assert window.retry_after("a") is None  # one more try ...
    window.record_failure("a")
    assert window.retry_after("a") == 1  # ... and the next oldest (t=1001) still counts
    assert window.retry_after("b") is None  # other addresses are untouched


def test_the_window_forgets_the_least_recently_failing_address_first():
    clock = Clock()
    window = FailureWindow(1, max_clients=3, clock=clock)
    for address in ("a", "b", "c"):
        window.record_failure(address)
    window.record_failure("a")  # "a" is now the most recent
    window.record_failure("d")  # a fourth address pushes out "b"
    assert [window.retry_after(x) is not None for x in "abcd"] == [True, False, True, True]


def test_a_refused_address_never_reaches_the_app():
    clock = Clock()
    calls = []

    async def app(scope, _receive, send):
        calls.append(scope["path"])
        status = 401 if scope["path"] == "/guess" else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    guarded = AuthFailureLimitMiddleware(app, failures=FailureWindow(2, clock=clock))
    client = TestClient(guarded)
    assert [client.get("/guess").status_code for _ in range(3)] == [401, 401, 429]
    assert client.get("/anything").status_code == 429
    assert client.get("/health").status_code == 200  # probes stay open
    assert calls == ["/guess", "/guess", "/health"]
    clock.now += 60
    assert client.get("/anything").status_code == 200  # the window cleared


# --- the service ---------------------------------------------------------------------------


def test_a_burst_of_wrong_tokens_is_cut_off(api, tokens):
    for _ in range(DEFAULT_LIMIT):
        assert api.get("/v1/models/current", headers=WRONG).status_code == 401
    _assert_refused(api.get("/v1/models/current", headers=WRONG))
    # The token is not even looked at now, the right one included: its check is the work
    # a guesser makes us do.
    _assert_refused(api.get("/v1/models/current", headers=tokens.header()))
    _assert_refused(api.post("/fhir/r4/$assess-dropout-risk", headers=tokens.header()))
    assert api.get("/health").status_code == 200
    assert api.get("/ready").status_code == 200
    # Another address is not affected.
    other = TestClient(api.app, client=("198.51.100.7", 40000))
    assert other.get("/v1/models/current", headers=tokens.header()).status_code == 200


def test_successes_and_missing_scopes_do_not_count(api, tokens):
    for _ in range(3 * DEFAULT_LIMIT):
        assert api.get("/v1/models/current", headers=tokens.header()).status_code == 200
        answer = api.get("/v1/models/current", headers=tokens.header(Scope.ADMIN))
        assert answer.status_code == 403
    for _ in range(DEFAULT_LIMIT):
        assert api.get("/metrics", headers=WRONG).status_code == 401
    _assert_refused(api.get("/metrics", headers=WRONG))


def test_the_limit_is_a_setting(registry, make_settings, tmp_path):
    from service.app import create_app

    settings = make_settings(
        tracking_uri=registry.tracking_uri,
        database_url=f"sqlite:///{tmp_path / 'audit.db'}",
        auth_failures_per_minute=5,
    )
    with TestClient(create_app(settings)) as api:
        for _ in range(5):
            assert api.get("/v1/models/current").status_code == 401  # no token counts too
        _assert_refused(api.get("/v1/models/current", headers=WRONG))


def test_refused_record_system_jwts_and_page_tokens_count(api):
    cds = f"/cds-services/{SERVICE_ID}"
    for number in range(DEFAULT_LIMIT):
        if number % 2:
            answer = api.post(cds, json={}, headers={"Authorization": "Bearer not.a.jwt"})
        else:
            answer = api.get("/reports/some-id", headers=WRONG)
        assert answer.status_code == 401
    _assert_refused(api.post(f"{cds}/feedback", json={}, headers={"Authorization": "Bearer x"}))
    _assert_refused(api.get("/models/1/card", headers=WRONG))


def test_clients_without_an_address_share_one_count(api):
    # ASGI servers may omit the client (unix sockets): all such requests share one count.
    app = api.app
    for _ in range(DEFAULT_LIMIT):
        assert TestClient(app, client=None).get("/metrics", headers=WRONG).status_code == 401
    _assert_refused(TestClient(app, client=None).get("/metrics", headers=WRONG))


def test_over_http_the_client_address_is_the_peer(over_http):
    for _ in range(DEFAULT_LIMIT):
        assert over_http.get("/metrics", headers=WRONG).status_code == 401
    _assert_refused(over_http.get("/metrics", headers=WRONG))
    assert over_http.get("/health").status_code == 200
