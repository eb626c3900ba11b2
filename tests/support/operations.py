"""Every operation of the service, with a path to call it by and who may call it.

``test_every_endpoint_access`` checks that this table is exactly the OpenAPI document's list
of operations, so the access and fuzz tests that iterate over it cover every endpoint.
"""

from __future__ import annotations

from service.cds.prefetch import SERVICE_ID
from service.security import Scope

ZERO_ID = "00000000-0000-0000-0000-000000000000"
#: (method, documented path) -> (path to call, who may call it: a scope, "ehr", or "open").
OPERATIONS: dict[tuple[str, str], tuple[str, Scope | str]] = {
    ("post", "/v1/risk-assessments"): ("/v1/risk-assessments", Scope.RISK_WRITE),
    ("post", "/v1/risk-assessments/batch"): ("/v1/risk-assessments/batch", Scope.RISK_WRITE),
    ("get", "/v1/risk-assessments/{assessment_id}"): (
        f"/v1/risk-assessments/{ZERO_ID}",
        Scope.AUDIT_READ,
    ),
    ("post", "/v1/outcomes"): ("/v1/outcomes", Scope.OUTCOMES_WRITE),
    ("get", "/v1/models/current"): ("/v1/models/current", Scope.MODELS_READ),
    ("post", "/v1/models/reload"): ("/v1/models/reload", Scope.ADMIN),
    ("get", "/metrics"): ("/metrics", Scope.METRICS_READ),
    ("get", "/v1/monitoring"): ("/v1/monitoring", Scope.AUDIT_READ),
    ("get", "/v1/audit/reads"): ("/v1/audit/reads", Scope.ADMIN),
    ("post", "/fhir/r4/$assess-dropout-risk"): ("/fhir/r4/$assess-dropout-risk", Scope.RISK_WRITE),
    ("get", "/v1/caseload"): ("/v1/caseload", Scope.AUDIT_READ),
    ("get", "/fhir/r4/Flag"): ("/fhir/r4/Flag?patient=Patient/c-001", Scope.AUDIT_READ),
    ("get", "/v1/alerts"): ("/v1/alerts", Scope.AUDIT_READ),
    **{
        ("post", f"/v1/alerts/{{alert_id}}/{step}"): (
            f"/v1/alerts/{ZERO_ID}/{step}",
            Scope.RISK_WRITE,
        )
        for step in ("acknowledge", "resolve", "dismiss")
    },
    ("get", "/reports/{assessment_id}"): (f"/reports/{ZERO_ID}", Scope.AUDIT_READ),
    ("get", "/caseload"): ("/caseload", Scope.AUDIT_READ),
    ("post", "/caseload/alerts/{alert_id}/{step}"): (
        f"/caseload/alerts/{ZERO_ID}/acknowledge",
        Scope.RISK_WRITE,
    ),
    ("get", "/models/{version}/card"): ("/models/1/card", Scope.MODELS_READ),
    ("post", "/cds-services/{service_id}"): (f"/cds-services/{SERVICE_ID}", "ehr"),
    ("post", "/cds-services/{service_id}/feedback"): (
        f"/cds-services/{SERVICE_ID}/feedback",
        "ehr",
    ),
    ("get", "/cds-services"): ("/cds-services", "open"),
    # SMART App Launch: no token; a registered issuer, then a single-use state (docs/fhir.md).
    ("get", "/smart/launch"): ("/smart/launch", "open"),
    ("get", "/smart/callback"): ("/smart/callback", "open"),
    ("get", "/smart/jwks.json"): ("/smart/jwks.json", "open"),
    ("get", "/health"): ("/health", "open"),
    ("get", "/ready"): ("/ready", "open"),
}
#: The clinician's HTML pages (API token or signed link).
PAGES = frozenset(
    {
        "/reports/{assessment_id}",
        "/models/{version}/card",
        "/caseload",
        "/caseload/alerts/{alert_id}/{step}",
    }
)


def label(method: str, path: str) -> str:
    """``POST /v1/outcomes``: how an operation is named in test ids."""
    return f"{method.upper()} {path}"
