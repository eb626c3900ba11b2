"""SMART client registrations read from ``DROPOUT_RISK_SMART_CLIENTS``, unsafe ones refused."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from service.settings import ServiceSettings
from tests.support.smart_ehr import pem, rsa_key

ISS = "https://ehr.example.org/fhir"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch, tmp_path):
    for variable in ("DATABASE_URL", "MLFLOW_TRACKING_URI", "DROPOUT_RISK_API_TOKENS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DROPOUT_RISK_DATA_DIR", str(tmp_path))


def test_no_record_system_may_launch_by_default():
    settings = ServiceSettings()
    assert settings.smart_clients == []
    assert settings.smart_redirect_uri == "http://127.0.0.1:8000/smart/callback"


def test_clients_are_read_from_the_environment(monkeypatch, tmp_path):
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(pem(rsa_key()))
    clients = [
        {"iss": f"{ISS}/", "client_id": "app-1", "clinics": ["north"]},
        {"iss": "https://other.example/r4", "client_id": "app-2", "clinics": ["south", "east"],
         "private_key_file": str(key_file)},
    ]  # fmt: skip
    monkeypatch.setenv("DROPOUT_RISK_SMART_CLIENTS", json.dumps(clients))
    public, confidential = ServiceSettings().smart_clients
    assert public.iss == ISS and not public.confidential  # the trailing slash dropped
    assert confidential.confidential and confidential.clinics == ("south", "east")
    jwk = confidential.public_jwk()
    assert jwk["kty"] == "RSA" and jwk["alg"] == "RS384" and "d" not in jwk and jwk["kid"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"iss": "http://ehr.example.org/fhir", "client_id": "a", "clinics": ["n"]}, "https"),
        ({"iss": ISS, "client_id": "", "clinics": ["n"]}, "client_id"),
        ({"iss": ISS, "client_id": "a", "clinics": []}, "clinics"),
        ({"iss": ISS, "client_id": "a", "clinics": [""]}, "non-empty"),
        ({"iss": ISS, "client_id": "a", "clinics": ["n"], "secret": "x"}, "secret"),
        ({"iss": ISS, "client_id": "a", "clinics": ["n"], "private_key_file": "/nowhere.pem"},
         "PEM"),
    ],
)  # fmt: skip
def test_unsafe_or_incomplete_clients_are_refused(entry, message):
    with pytest.raises(ValidationError, match=message):
        ServiceSettings(smart_clients=[entry])


def test_a_weak_or_unsuitable_key_is_refused(tmp_path):
    key_file = tmp_path / "p256.pem"
    key_file.write_bytes(pem(ec.generate_private_key(ec.SECP256R1())))
    entry = {"iss": ISS, "client_id": "a", "clinics": ["n"], "private_key_file": str(key_file)}
    with pytest.raises(ValidationError, match="P-384"):
        ServiceSettings(smart_clients=[entry])


def test_an_issuer_registered_twice_is_refused():
    entry = {"iss": ISS, "client_id": "a", "clinics": ["n"]}
    with pytest.raises(ValidationError, match="twice"):
        ServiceSettings(smart_clients=[entry, entry | {"client_id": "b"}])
