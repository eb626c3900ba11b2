"""The EHR's JWT: every way of getting it wrong is the same bare 401, and never logged.

Each case starts from a token that is accepted (checked in the same test, so the case
cannot pass for another reason) and breaks one thing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from service.cds.prefetch import SERVICE_ID
from service.observability import JsonFormatter
from tests.support.cds import BASE_URL, issuer

SERVICE_URL = f"{BASE_URL}/cds-services/{SERVICE_ID}"


def _b64(document: dict) -> str:
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(ehr, **changes):
    now = int(time.time())
    claims = {"iss": ehr.iss, "aud": SERVICE_URL, "iat": now, "exp": now + 60}
    return claims | {"jti": str(uuid.uuid4())} | changes


def _unsigned(ehr) -> str:
    """``alg: none``: a header, a payload and an empty signature."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': ehr.kid})}.{_b64(_claims(ehr))}."


def _hmac_with_public_key(ehr) -> str:
    """HS256 keyed with our public key's PEM: the classic algorithm-confusion forgery."""
    pem = ehr.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': ehr.kid})}.{_b64(_claims(ehr))}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _forged(ehr) -> str:
    return ehr.token(SERVICE_URL, key=ec.generate_private_key(ec.SECP384R1()))


def _rsa_unknown_kid(ehr) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ehr.token(SERVICE_URL, key=key, algorithm="RS384", headers={"kid": "not-ours"})


def _es256_header_on_our_p384_key(ehr) -> str:
    p256 = ec.generate_private_key(ec.SECP256R1())
    return ehr.token(SERVICE_URL, key=p256, algorithm="ES256")


def _at(offset: int) -> int:
    return int(time.time()) + offset


# Each bad token, and the reason the service must log for it (so no case passes by accident).
BAD_TOKENS = {
    "forged signature": (_forged, "InvalidSignatureError"),
    "expired": (lambda e: e.token(SERVICE_URL, iat=_at(-300), exp=_at(-120)), "ExpiredSignature"),
    "issued in the future": (
        lambda e: e.token(SERVICE_URL, iat=_at(600), exp=_at(700)),
        "ImmatureSignatureError",
    ),
    "longer-lived than allowed": (
        lambda e: e.token(SERVICE_URL, lifetime=3600),
        "lifetime too long",
    ),
    "audience of discovery": (
        lambda e: e.token(f"{BASE_URL}/cds-services"),
        "InvalidAudienceError",
    ),
    "audience of feedback": (
        lambda e: e.token(f"{SERVICE_URL}/feedback"),
        "InvalidAudienceError",
    ),
    "audience of another host": (
        lambda e: e.token(SERVICE_URL.replace("127.0.0.1", "localhost")),
        "InvalidAudienceError",
    ),
    "audience of another service": (
        lambda e: e.token(f"{BASE_URL}/cds-services/other"),
        "InvalidAudienceError",
    ),
    "alg none": (_unsigned, "algorithm not allowed"),
    "HS256 keyed with the public key": (_hmac_with_public_key, "algorithm not allowed"),
    "ES256 on a P-384 key": (_es256_header_on_our_p384_key, "key does not fit"),
    "RS384 with an unknown kid": (_rsa_unknown_kid, "no key for kid"),
    "unknown issuer": (
        lambda e: e.token(SERVICE_URL, iss="https://evil.example.org"),
        "unknown issuer",
    ),
    "no kid": (lambda e: e.token(SERVICE_URL, headers={"kid": None}), "no usable kid"),
    "jku not allow-listed": (
        lambda e: e.token(SERVICE_URL, headers={"jku": "http://127.0.0.1:9/jwks.json"}),
        "jku not allowed",
    ),
    "typ not JWT": (lambda e: e.token(SERVICE_URL, headers={"typ": "at+jwt"}), "typ is not JWT"),
    "no jti": (lambda e: e.token(SERVICE_URL, jti=None), "MissingRequiredClaimError"),
    "no exp": (lambda e: e.token(SERVICE_URL, exp=None), "MissingRequiredClaimError"),
    "no iat": (lambda e: e.token(SERVICE_URL, iat=None), "MissingRequiredClaimError"),
    "exp as text": (lambda e: e.token(SERVICE_URL, exp=str(_at(60))), "not a number"),
    "not a JWT": (lambda e: "drk_not-a-jwt", "malformed token"),
}


@pytest.fixture
def log_lines(caplog):
    """Every log record of the test, as the JSON lines the service writes."""
    caplog.set_level(logging.DEBUG)
    formatter = JsonFormatter()
    return lambda: "\n".join(formatter.format(record) for record in caplog.records)


def _hook():
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/t1", "patientId": "p1"},
        "prefetch": {
            "patient": None,
            "observations": None,
            "encounters": None,
            "appointments": None,
        },
    }


def _post(app, token):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return app.post(f"/cds-services/{SERVICE_ID}", json=_hook(), headers=headers)


def _assert_bare_401(answer):
    assert answer.status_code == 401, answer.text
    body = answer.json()
    del body["request_id"]
    assert body == {"code": "unauthorized", "message": "not authorized", "fields": []}
    assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_the_unbroken_token_is_accepted(app, ehr):
    answer = _post(app, ehr.token(SERVICE_URL))
    assert answer.status_code == 200 and answer.json() == {"cards": []}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_a_bad_token_is_a_bare_401_and_is_not_logged(app, ehr, log_lines, case):
    make, reason = BAD_TOKENS[case]
    token = make(ehr)
    _assert_bare_401(_post(app, token))
    text = log_lines()
    signature = token.split(".")[-1]
    assert token not in text and (not signature or signature not in text)
    (refusal,) = [json.loads(line) for line in text.splitlines() if "cds_token_refused" in line]
    assert reason in refusal["reason"]


def test_no_token_or_another_scheme_is_401(app, ehr):
    _assert_bare_401(_post(app, None))
    answer = app.post(
        f"/cds-services/{SERVICE_ID}",
        json=_hook(),
        headers={"Authorization": f"Basic {ehr.token(SERVICE_URL)}"},
    )
    _assert_bare_401(answer)


def test_a_replayed_token_is_401_in_every_worker(app, start_app, ehr):
    token = ehr.token(SERVICE_URL)
    assert _post(app, token).status_code == 200
    _assert_bare_401(_post(app, token))
    # A second worker on the same audit database remembers the jti too.
    _assert_bare_401(_post(start_app(), token))


def test_discovery_needs_no_token_but_checks_one_that_is_sent(app, ehr):
    assert app.get("/cds-services").status_code == 200
    assert app.get("/cds-services", headers={"Authorization": "Bearer x"}).status_code == 401
    wrong = ehr.token(SERVICE_URL)  # the service's audience, not discovery's
    assert (
        app.get("/cds-services", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
    )
    right = ehr.token(f"{BASE_URL}/cds-services")
    assert (
        app.get("/cds-services", headers={"Authorization": f"Bearer {right}"}).status_code == 200
    )


def test_feedback_needs_its_own_audience(app, ehr):
    feedback = {"feedback": [{"card": str(uuid.uuid4()), "outcome": "accepted"}]}
    feedback["feedback"][0]["outcomeTimestamp"] = "2026-06-01T10:00:00Z"
    path = f"/cds-services/{SERVICE_ID}/feedback"
    for aud, status in ((SERVICE_URL, 401), (f"{BASE_URL}{path}", 422)):
        headers = {"Authorization": f"Bearer {ehr.token(aud)}"}
        assert app.post(path, json=feedback, headers=headers).status_code == status


def test_keys_from_an_allowed_jku_are_fetched_once_and_cached_by_kid(start_app, ehr):
    app = start_app(cds_issuers=[issuer(ehr, jwks=None)])  # keys only by URL
    jku = {"jku": ehr.jku}
    assert _post(app, ehr.token(SERVICE_URL, headers=jku)).status_code == 200
    assert _post(app, ehr.token(SERVICE_URL, headers=jku)).status_code == 200
    assert ehr.jwks_fetches == 1

    _assert_bare_401(_post(app, ehr.token(SERVICE_URL)))  # no jku, and no inline keys
    for n in range(3):  # made-up kids do not make the service hammer the EHR
        forged = ehr.token(SERVICE_URL, headers=jku | {"kid": f"made-up-{n}"})
        _assert_bare_401(_post(app, forged))
    assert ehr.jwks_fetches == 1


@pytest.mark.parametrize(("tenant", "status"), [("clinic-a", 200), ("clinic-b", 401), (None, 401)])
def test_an_issuer_s_tenants_are_enforced(start_app, ehr, tenant, status):
    app = start_app(cds_issuers=[issuer(ehr, tenants=["clinic-a"])])
    answer = _post(app, ehr.token(SERVICE_URL, tenant=tenant))
    assert answer.status_code == status, answer.text


def test_without_a_valid_token_the_body_is_not_even_read(app, ehr):
    bad_body = {"hook": "order-sign"}
    for path in (f"/cds-services/{SERVICE_ID}", f"/cds-services/{SERVICE_ID}/feedback"):
        _assert_bare_401(app.post(path, json=bad_body))
        signed = {"Authorization": f"Bearer {ehr.token(f'{BASE_URL}{path}')}"}
        assert app.post(path, json=bad_body, headers=signed).status_code == 422
