"""The EHR's SMART configuration: what a launch needs of it, and what makes it unusable."""

from __future__ import annotations

import asyncio

import pytest

from service.smart.discovery import Discovery, SmartUnavailableError


def _configuration(ehr, *, allow_private: bool = True):
    return asyncio.run(Discovery(timeout=5, allow_private=allow_private).configuration(ehr.iss))


def test_the_endpoints_and_the_id_token_issuer_are_read(smart_ehr):
    configuration = _configuration(smart_ehr)
    assert configuration.authorization_endpoint == f"{smart_ehr.base_url}/authorize"
    assert configuration.token_endpoint == f"{smart_ehr.base_url}/token"
    assert configuration.jwks_uri == f"{smart_ehr.base_url}/jwks.json"
    assert configuration.issuer == smart_ehr.iss and configuration.private_key_jwt
    smart_ehr.discovery_changes = {"issuer": None}  # absent: the FHIR base URL
    assert _configuration(smart_ehr).issuer == smart_ehr.iss


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"code_challenge_methods_supported": ["plain"]}, "S256"),
        ({"code_challenge_methods_supported": None}, "S256"),
        ({"token_endpoint": None}, "no token_endpoint"),
        ({"jwks_uri": "http://keys.example.org/jwks.json"}, "jwks_uri is not an https URL"),
        ({"authorization_endpoint": "ftp://ehr.example.org/a"}, "not an https URL"),
    ],
)
def test_an_unusable_configuration_is_refused(smart_ehr, changes, message):
    smart_ehr.discovery_changes = changes
    with pytest.raises(SmartUnavailableError, match=message):
        _configuration(smart_ehr)


def test_an_ehr_at_a_loopback_address_is_refused_unless_allowed(smart_ehr):
    with pytest.raises(SmartUnavailableError, match="private or loopback"):
        _configuration(smart_ehr, allow_private=False)
