"""Prometheus metrics count what happened, by route template and risk level."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from service.security import Scope


def _samples(api, tokens):
    answer = api.get("/metrics", headers=tokens.header(Scope.METRICS_READ))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def test_requests_and_assessments_are_counted(api, tokens, example_request, registry):
    for _ in range(3):
        api.post("/v1/risk-assessments", json=example_request, headers=tokens.header())
    api.get(f"/v1/risk-assessments/{'0' * 32}", headers=tokens.header())
    samples = _samples(api, tokens)
    key = (("method", "POST"), ("route", "/v1/risk-assessments"), ("status", "200"))
    assert samples[("dropout_risk_http_requests_total", key)] == 3
    template = "/v1/risk-assessments/{assessment_id}"
    by_id = (("method", "GET"), ("route", template), ("status", "404"))
    assert samples[("dropout_risk_http_requests_total", by_id)] == 1  # the template, not the id
    levels = [
        value
        for (name, labels), value in samples.items()
        if name == "dropout_risk_assessments_total" and ("outcome", "dropout") in labels
    ]
    assert sum(levels) == 3
    assert samples[("dropout_risk_model_version", ())] == float(registry.version)
    assert samples[("dropout_risk_registry_reachable", ())] == 1
