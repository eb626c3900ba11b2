"""The id_token's checks, against the test authorization server's published keys: what a
forged or malformed token tries, each refused with its reason (for the log) and the same
page text for the clinician."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from service.cds.keys import KeyRing
from service.smart.clients import SmartClient
from service.smart.discovery import Discovery
from service.smart.tokens import LaunchRefusedError, verify_id_token
from tests.support.smart_ehr import CLIENT_ID, SmartEhr, public_jwk


def _verify(ehr: SmartEhr, token: str) -> dict:
    async def _run() -> dict:
        discovery = Discovery(timeout=5, allow_private=True)  # the server is on loopback
        configuration = await discovery.configuration(ehr.iss)
        return await verify_id_token(
            token,
            keys=KeyRing([], timeout=5),
            discovery=discovery,
            configuration=configuration,
            client=SmartClient(iss=ehr.iss, client_id=CLIENT_ID, clinics=("north",)),
        )

    return asyncio.run(_run())


def _claims(ehr: SmartEhr, **changes) -> dict:
    now = int(time.time())
    claims = {"iss": ehr.iss, "sub": "u", "aud": CLIENT_ID, "iat": now, "exp": now + 300}
    return {k: v for k, v in (claims | changes).items() if v is not None}


def test_an_honest_id_token_passes(smart_ehr):
    claims = _verify(smart_ehr, smart_ehr.id_token(user="Practitioner/7"))
    assert claims["fhirUser"] == "Practitioner/7"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"alg": "none"}, "algorithm not allowed"),
        ({"alg": "HS256"}, "algorithm not allowed"),
        ({"kid": None}, "no usable kid"),
        ({"kid": "unknown"}, "no published key"),
        ({"aud": ["someone", CLIENT_ID]}, "azp"),
        ({"sub": None}, "MissingRequiredClaim"),
        ({"iat": None}, "MissingRequiredClaim"),
        ({"exp": int(time.time()) - 600}, "ExpiredSignature"),
        ({"iss": "https://ehr.elsewhere.example/fhir"}, "InvalidIssuer"),
        ({"aud": "another-app"}, "InvalidAudience"),
    ],
)
def test_a_bad_id_token_is_refused(smart_ehr, change, reason):
    kid = change.get("kid", smart_ehr.kid)
    header = {"kid": kid} if kid is not None else {}
    claims = _claims(smart_ehr, **{k: v for k, v in change.items() if k not in ("alg", "kid")})
    alg = change.get("alg", "RS256")
    if alg == "none":
        token = jwt.encode(claims, None, algorithm="none", headers=header)
    elif alg == "HS256":  # the classic confusion: the public key as an HMAC secret
        secret = str(public_jwk(smart_ehr.key, smart_ehr.kid)).encode()
        token = jwt.encode(claims, secret, algorithm="HS256", headers=header)
    else:
        token = jwt.encode(claims, smart_ehr.key, algorithm="RS256", headers=header)
    with pytest.raises(LaunchRefusedError, match=reason) as refused:
        _verify(smart_ehr, token)
    assert refused.value.status == 403 and "could not be verified" in refused.value.message


def test_a_key_of_another_type_is_refused(smart_ehr):
    # An EC signature naming the EHR's RSA key: the key does not fit the algorithm.
    token = jwt.encode(_claims(smart_ehr), ec.generate_private_key(ec.SECP384R1()),
                       algorithm="ES384", headers={"kid": smart_ehr.kid})  # fmt: skip
    with pytest.raises(LaunchRefusedError, match="does not fit"):
        _verify(smart_ehr, token)
