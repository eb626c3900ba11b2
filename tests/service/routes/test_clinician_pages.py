"""The clinician pages in-process: who may open them, and what a missing page says."""

from __future__ import annotations

from service.reports.links import model_card_subject, report_subject
from service.security import Scope


def _assessment_id(api, tokens, example_request) -> str:
    answer = api.post("/v1/risk-assessments", json=example_request, headers=tokens.header())
    return answer.json()["assessment_id"]


def test_the_report_opens_with_its_scope_or_a_signed_link(api, tokens, example_request):
    assessment_id = _assessment_id(api, tokens, example_request)
    path = f"/reports/{assessment_id}"
    assert api.get(path).status_code == 401
    assert api.get(path, headers={"Authorization": "Bearer drk_unknown"}).status_code == 401
    assert api.get(path, headers=tokens.header(Scope.RISK_WRITE)).status_code == 403
    page = api.get(path, headers=tokens.header(Scope.AUDIT_READ))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Early-warning report after session 2" in page.text
    links = api.app.state.runtime.links
    signed = api.get(f"{path}?{links.query(report_subject(assessment_id))}")
    assert signed.status_code == 200
    assert "/models/" in signed.text and "card?expires=" in signed.text  # a signed card link
    incomplete = api.get(f"{path}?expires=99999999999")
    assert incomplete.status_code == 403


def test_an_unknown_report_is_404_not_an_error(api, tokens):
    answer = api.get("/reports/00000000-0000-0000-0000-000000000000", headers=tokens.header())
    assert answer.status_code == 404 and "no assessment" in answer.text


def test_the_model_card_page(api, tokens, registry):
    path = f"/models/{registry.version}/card"
    assert api.get(path).status_code == 401
    assert api.get(path, headers=tokens.header(Scope.AUDIT_READ)).status_code == 403
    page = api.get(path, headers=tokens.header(Scope.MODELS_READ))
    assert page.status_code == 200
    assert f"version {registry.version}" in page.text
    links = api.app.state.runtime.links
    signed = api.get(f"{path}?{links.query(model_card_subject(registry.version))}")
    assert signed.status_code == 200
    other = links.query(model_card_subject("99"))
    assert api.get(f"{path}?{other}").status_code == 403  # a link to another version
    assert api.get("/models/99/card", headers=tokens.header(Scope.MODELS_READ)).status_code == 404
