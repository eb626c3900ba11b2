"""Every operation of the OpenAPI document, tried without a credential and with wrong ones.

The table in ``operations.py`` must name every operation the service documents, so a new
endpoint cannot be added without saying who may call it. API-token endpoints (JSON, FHIR
and the HTML pages) answer 401 without or with an unknown token and 403 with a token
lacking the scope; CDS Hooks endpoints take the record system's JWT, never our tokens, and
answer 401 to anything else. Tokens and link signatures are compared in constant time.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

import pytest

from service.reports.links import LinkSigner
from service.security import Scope, TokenBook, new_token
from tests.support.operations import OPERATIONS, PAGES, label

CASES = [(method, path, *called) for (method, path), called in OPERATIONS.items()]
WITH_TOKEN = [case for case in CASES if isinstance(case[3], Scope)]
WITH_JWT = [case for case in CASES if case[3] == "ehr"]
UNKNOWN_TOKENS = [
    {"Authorization": "Bearer drk_not-a-real-token"},
    {"Authorization": "Bearer "},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "drk_no-scheme"},
]


def _ids(cases: list[tuple]) -> list[str]:
    return [label(method, path) for method, path, *_ in cases]


def _call(api, method: str, path: str, headers: dict[str, str]):
    body = None if method == "get" else {}
    return api.request(method.upper(), path, json=body, headers=headers)


def _refused(answer, status: int, documented_path: str) -> None:
    assert answer.status_code == status, answer.text
    if documented_path in PAGES:
        assert answer.headers["content-type"].startswith("text/html")
        assert "Content-Security-Policy" in answer.headers
    else:
        assert answer.json()["code"] == {401: "unauthorized", 403: "forbidden"}[status]
        if status == 401:
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_table_names_every_documented_operation(api):
    document = api.get("/openapi.json").json()
    documented = {(m, p) for p, methods in document["paths"].items() for m in methods}
    assert documented == set(OPERATIONS)


@pytest.mark.parametrize(
    ("method", "documented", "path", "scope"), WITH_TOKEN, ids=_ids(WITH_TOKEN)
)
def test_api_token_endpoints(api, tokens, method, documented, path, scope):
    _refused(_call(api, method, path, {}), 401, documented)
    for headers in UNKNOWN_TOKENS:
        _refused(_call(api, method, path, headers), 401, documented)
    for other in Scope:
        if other is not scope:
            _refused(_call(api, method, path, tokens.header(other)), 403, documented)
    admitted = _call(api, method, path, tokens.header(scope))
    assert admitted.status_code not in (401, 403, 429) and admitted.status_code < 500


@pytest.mark.parametrize(("method", "documented", "path", "who"), WITH_JWT, ids=_ids(WITH_JWT))
def test_record_system_endpoints_take_only_a_valid_jwt(api, tokens, method, documented, path, who):
    del who
    for headers in (
        {},
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0."},  # alg none
        tokens.header(),  # our API token is not an EHR JWT
    ):
        answer = _call(api, method, path, headers)
        assert answer.status_code == 401, (headers, answer.text)
        assert answer.json() == {
            "code": "unauthorized",
            "message": "not authorized",
            "fields": [],
            "request_id": answer.headers["X-Request-ID"],
        }
    assert documented.startswith("/cds-services/")


def test_open_endpoints_need_nothing_but_check_what_is_sent(api):
    for path in ("/health", "/ready", "/cds-services", "/openapi.json", "/docs"):
        assert api.get(path).status_code == 200, path
    # A JWT sent to discovery must be valid for it (api.md: a token that is sent is checked).
    refused = api.get("/cds-services", headers={"Authorization": "Bearer not.a.jwt"})
    assert refused.status_code == 401


def test_tokens_and_link_signatures_are_compared_in_constant_time(monkeypatch):
    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    token, entry = new_token(name="t", scopes={Scope.ADMIN}, all_clinics=True)
    book = TokenBook([entry])
    assert book.caller(token) is not None
    assert compared == [(entry.sha256, entry.sha256)]
    # A wrong token that hashes to no entry is refused by the hash lookup: timing there
    # reveals only whether SHA-256 of the guess is stored, which a guess cannot steer.
    assert book.caller(token + "x") is None

    compared.clear()
    signer = LinkSigner(b"k" * 32, lifetime_seconds=60)
    query = parse_qs(signer.query("report:abc"))
    expires, (signature,) = int(query["expires"][0]), query["signature"]
    assert signer.verify("report:abc", expires=expires, signature=signature)
    assert not signer.verify("report:abc", expires=expires, signature="0" * len(signature))
    assert len(compared) == 2
