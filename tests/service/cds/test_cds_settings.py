"""CDS Hooks settings: issuers and URLs read from the environment, unsafe ones refused."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from pydantic import ValidationError

from service.settings import ServiceSettings

ISSUER = "https://ehr.example.org"


def _jwk(private: bool = False, kid: str | None = "k1") -> dict:
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(ECAlgorithm.to_jwk(key if private else key.public_key()))
    return jwk | ({"kid": kid} if kid else {})


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch, tmp_path):
    for variable in ("DATABASE_URL", "MLFLOW_TRACKING_URI", "DROPOUT_RISK_API_TOKENS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DROPOUT_RISK_DATA_DIR", str(tmp_path))


def test_defaults_trust_no_ehr_and_show_no_quiet_cards():
    settings = ServiceSettings()
    assert settings.cds_issuers == []
    assert settings.cds_low_risk_card == "none"
    assert settings.public_base_url == "http://127.0.0.1:8000"
    assert settings.report_url("a-1") == "http://127.0.0.1:8000/reports/a-1"
    assert settings.model_card_link("3") == "http://127.0.0.1:8000/models/3/card"


def test_issuers_and_urls_are_read_from_the_environment(monkeypatch):
    issuers = [
        {"iss": ISSUER, "jwks": {"keys": [_jwk()]}},
        {"iss": "https://other.example.org", "jku_allowed": ["https://other.example.org/jwks"]},
    ]
    monkeypatch.setenv("DROPOUT_RISK_CDS_ISSUERS", json.dumps(issuers))
    monkeypatch.setenv("DROPOUT_RISK_PUBLIC_BASE_URL", "https://risk.clinic.example/")
    monkeypatch.setenv(
        "DROPOUT_RISK_REPORT_URL_TEMPLATE", "https://reports.clinic.example/{assessment_id}"
    )
    settings = ServiceSettings()
    assert [i.iss for i in settings.cds_issuers] == [ISSUER, "https://other.example.org"]
    assert settings.public_base_url == "https://risk.clinic.example"  # no trailing slash
    assert settings.report_url("a-1") == "https://reports.clinic.example/a-1"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DROPOUT_RISK_CDS_ISSUERS", [{"iss": ISSUER}]),  # no keys at all
        ("DROPOUT_RISK_CDS_ISSUERS", [{"iss": ISSUER, "jwks": {"keys": [_jwk(private=True)]}}]),
        ("DROPOUT_RISK_CDS_ISSUERS", [{"iss": ISSUER, "jwks": {"keys": [_jwk(kid=None)]}}]),
        ("DROPOUT_RISK_CDS_ISSUERS", [{"iss": ISSUER, "jwks": {"keys": [_jwk(), _jwk()]}}]),
        (
            "DROPOUT_RISK_CDS_ISSUERS",
            [{"iss": ISSUER, "jwks": {"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}}],
        ),
        (
            "DROPOUT_RISK_CDS_ISSUERS",
            [{"iss": ISSUER, "jku_allowed": ["http://ehr.example.org/k"]}],
        ),
        ("DROPOUT_RISK_CDS_ISSUERS", [{"iss": ISSUER, "jku_allowed": ["ftp://127.0.0.1/k"]}]),
        (
            "DROPOUT_RISK_CDS_ISSUERS",
            [
                {"iss": ISSUER, "jku_allowed": ["https://x/k"]},
                {"iss": ISSUER, "jku_allowed": ["https://x/k"]},
            ],
        ),
        (
            "DROPOUT_RISK_CDS_ISSUERS",
            [{"iss": ISSUER, "jku_allowed": ["https://x/k"], "tenants": []}],
        ),
        ("DROPOUT_RISK_PUBLIC_BASE_URL", "http://risk.clinic.example"),  # JWTs in clear
        ("DROPOUT_RISK_PUBLIC_BASE_URL", "https://risk.clinic.example/?x=1"),
        ("DROPOUT_RISK_PUBLIC_BASE_URL", "risk.clinic.example"),
        ("DROPOUT_RISK_REPORT_URL_TEMPLATE", "{base}/reports"),  # which assessment?
        ("DROPOUT_RISK_REPORT_URL_TEMPLATE", "{base}/{assessment_id}/{patient}"),
        ("DROPOUT_RISK_REPORT_URL_TEMPLATE", "http://reports.example/{assessment_id}"),
        ("DROPOUT_RISK_MODEL_CARD_URL", "javascript:alert(1)"),
        ("DROPOUT_RISK_CDS_LOW_RISK_CARD", "warning"),
        ("DROPOUT_RISK_CDS_FHIR_TIMEOUT_SECONDS", "0"),
        ("DROPOUT_RISK_CDS_TOKEN_MAX_LIFETIME_SECONDS", "86400"),
    ],
)
def test_unsafe_values_are_refused(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value if isinstance(value, str) else json.dumps(value))
    with pytest.raises(ValidationError):
        ServiceSettings()
