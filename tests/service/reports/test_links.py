"""Signed links open one thing until they expire; any change to them breaks them."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.reports.links import LinkSigner, model_card_subject, report_subject

SECRET = b"k" * 32


def _parts(query: str) -> tuple[int, str]:
    parsed = parse_qs(query)
    return int(parsed["expires"][0]), parsed["signature"][0]


def test_a_fresh_link_opens_its_own_report_only():
    signer = LinkSigner(SECRET)
    expires, signature = _parts(signer.query(report_subject("A-1"), now=1000.0))
    assert signer.verify(report_subject("a-1"), expires=expires, signature=signature, now=1000.0)
    assert not signer.verify(report_subject("a-2"), expires=expires, signature=signature, now=1000)
    assert not signer.verify(model_card_subject("a-1"), expires=expires, signature=signature)


def test_an_expired_link_is_refused_even_with_a_good_signature():
    signer = LinkSigner(SECRET)
    expires, signature = _parts(signer.query("report:x", lifetime_seconds=60, now=1000.0))
    assert signer.verify("report:x", expires=expires, signature=signature, now=1059.0)
    assert not signer.verify("report:x", expires=expires, signature=signature, now=1061.0)


@given(st.integers(min_value=0, max_value=63), st.sampled_from("0123456789abcdef"))
def test_changing_any_character_of_the_signature_breaks_it(position, character):
    signer = LinkSigner(SECRET)
    expires, signature = _parts(signer.query("report:x", now=1000.0))
    tampered = signature[:position] + character + signature[position + 1 :]
    valid = signer.verify("report:x", expires=expires, signature=tampered, now=1000.0)
    assert valid == (tampered == signature)


def test_extending_the_expiry_breaks_the_signature():
    signer = LinkSigner(SECRET)
    expires, signature = _parts(signer.query("report:x", now=1000.0))
    assert not signer.verify("report:x", expires=expires + 3600, signature=signature, now=1000)


def test_another_secret_does_not_verify_and_short_secrets_are_refused():
    expires, signature = _parts(LinkSigner(SECRET).query("report:x", now=1000.0))
    assert not LinkSigner(b"o" * 32).verify(
        "report:x", expires=expires, signature=signature, now=1000.0
    )
    with pytest.raises(ValueError, match="32 bytes"):
        LinkSigner(b"short")
