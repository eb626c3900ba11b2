"""Security headers: a strict policy on the clinician's pages, no caching or sniffing anywhere."""

from __future__ import annotations

from service.headers import CONTENT_SECURITY_POLICY
from service.reports.links import report_subject
from service.security import Scope

HTML_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
JSON_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def _has(answer, expected: dict[str, str]) -> None:
    for name, value in expected.items():
        assert answer.headers.get_list(name) == [value], (name, answer.url)


def test_the_policy_is_the_strict_one():
    # No script at all, nothing from elsewhere, no framing, no forms, no <base> rewriting.
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives == {
        "default-src": "'none'",
        "style-src": "'unsafe-inline'",
        "img-src": "'self' data:",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }


def test_every_clinician_page_and_error_page_carries_them(api, tokens, example_request, registry):
    scored = api.post("/v1/risk-assessments", json=example_request, headers=tokens.header())
    assessment_id = scored.json()["assessment_id"]
    links = api.app.state.runtime.links
    pages = {
        "report": api.get(f"/reports/{assessment_id}", headers=tokens.header(Scope.AUDIT_READ)),
        "signed report": api.get(
            f"/reports/{assessment_id}?{links.query(report_subject(assessment_id))}"
        ),
        "model card": api.get(
            f"/models/{registry.version}/card", headers=tokens.header(Scope.MODELS_READ)
        ),
        "401 page": api.get(f"/reports/{assessment_id}"),
        "403 page": api.get(f"/reports/{assessment_id}?expires=1&signature=00"),
        "404 page": api.get("/models/999/card", headers=tokens.header(Scope.MODELS_READ)),
    }
    statuses = {name: page.status_code for name, page in pages.items()}
    assert statuses == {
        "report": 200,
        "signed report": 200,
        "model card": 200,
        "401 page": 401,
        "403 page": 403,
        "404 page": 404,
    }
    for page in pages.values():
        assert page.headers["content-type"].startswith("text/html")
        _has(page, HTML_HEADERS)
        # The policy forbids scripts, so the pages must not need any.
        assert "<script" not in page.text.lower()


def test_json_answers_are_not_cached_or_sniffed(api, tokens, example_request):
    answers = [
        api.post("/v1/risk-assessments", json=example_request, headers=tokens.header()),
        api.get("/v1/models/current", headers=tokens.header()),
        api.get("/v1/models/current"),  # an error
        api.get("/no/such/path"),
        api.get("/health"),
        api.get("/metrics", headers=tokens.header()),
    ]
    for answer in answers:
        _has(answer, JSON_HEADERS)
        assert "Content-Security-Policy" not in answer.headers


def test_the_api_docs_keep_their_scripts_but_not_their_cache_or_frames(api):
    # Swagger UI loads its script from a CDN: the strict policy would blank the page.
    docs = api.get("/docs")
    assert docs.status_code == 200
    assert "Content-Security-Policy" not in docs.headers
    _has(docs, {k: v for k, v in HTML_HEADERS.items() if k != "Content-Security-Policy"})
