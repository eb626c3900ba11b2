"""The key ring: inline keys, jku key sets fetched over HTTP, cached, refetched on rotation."""

from __future__ import annotations

import anyio
import pytest

from service.cds import keys as keys_module
from service.cds.issuers import CdsIssuer
from service.cds.keys import KeyRing


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _ring(ehr, clock, **changes):
    issuer = CdsIssuer.model_validate({"iss": ehr.iss, "jku_allowed": [ehr.jku]} | changes)
    return issuer, KeyRing([issuer], timeout=2.0, clock=clock)


def _key(ring, issuer, kid, jku):
    return anyio.run(ring.key, issuer, kid, jku)


def test_inline_keys_are_found_by_kid_without_any_fetch(ehr):
    issuer, ring = _ring(ehr, Clock(), jwks=ehr.jwks(), jku_allowed=[])
    assert _key(ring, issuer, ehr.kid, None) == ehr.public_jwk()
    assert _key(ring, issuer, "another", None) is None
    assert _key(ring, issuer, ehr.kid, ehr.jku) is None  # a jku not on the allow-list
    assert ehr.jwks_fetches == 0


def test_a_rotated_key_is_fetched_once_the_rate_limit_allows(ehr):
    clock = Clock()
    issuer, ring = _ring(ehr, clock)
    first = ehr.kid
    assert _key(ring, issuer, first, ehr.jku) == ehr.public_jwk()
    ehr.rotate_key("ehr-es384-2")

    clock.now += keys_module.REFETCH_AFTER_SECONDS / 2
    assert _key(ring, issuer, "ehr-es384-2", ehr.jku) is None  # too soon after the last fetch
    assert ehr.jwks_fetches == 1
    assert _key(ring, issuer, first, ehr.jku) is not None  # still cached and fresh

    clock.now += keys_module.REFETCH_AFTER_SECONDS
    assert _key(ring, issuer, "ehr-es384-2", ehr.jku) == ehr.public_jwk()
    assert ehr.jwks_fetches == 2
    assert _key(ring, issuer, first, ehr.jku) is None  # rotated out: gone at once


def test_keys_expire_and_a_failed_fetch_grants_nothing(ehr):
    clock = Clock()
    issuer, ring = _ring(ehr, clock)
    assert _key(ring, issuer, ehr.kid, ehr.jku) is not None
    clock.now += keys_module.KEY_TTL_SECONDS + 1
    ehr.published_keys = [{"kty": "oct", "kid": ehr.kid, "k": "c2VjcmV0"}]  # symmetric: refused
    assert _key(ring, issuer, ehr.kid, ehr.jku) is None
    assert ehr.jwks_fetches == 2


@pytest.mark.parametrize("jku", ["http://127.0.0.1:9/jwks.json"])
def test_an_unreachable_key_set_grants_nothing(ehr, jku):
    issuer, ring = _ring(ehr, Clock(), jku_allowed=[jku])
    assert _key(ring, issuer, ehr.kid, jku) is None
