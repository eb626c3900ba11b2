"""Tokens: made once, stored as hashes, matched exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from service.security import TOKEN_PREFIX, Scope, TokenBook, TokenEntry, hash_token, new_token


def test_a_new_token_is_stored_only_as_its_hash():
    token, entry = new_token(name="ehr-north", scopes={Scope.RISK_WRITE}, all_clinics=True)
    assert token.startswith(TOKEN_PREFIX) and len(token) > 40
    assert entry.sha256 == hash_token(token)
    assert token not in entry.model_dump_json()


def test_tokens_are_never_repeated():
    assert (
        len({new_token(name="a", scopes={Scope.ADMIN}, all_clinics=True)[0] for _ in range(200)})
        == 200
    )


def test_the_book_finds_callers_by_token_and_nothing_else():
    first, first_entry = new_token(
        name="first", scopes={Scope.RISK_WRITE, Scope.MODELS_READ}, all_clinics=True
    )
    second, second_entry = new_token(name="second", scopes={Scope.AUDIT_READ}, all_clinics=True)
    book = TokenBook([first_entry, second_entry])
    assert book.caller(first).name == "first"
    assert book.caller(first).scopes == {Scope.RISK_WRITE, Scope.MODELS_READ}
    assert book.caller(second).scopes == {Scope.AUDIT_READ}
    assert book.caller(first_entry.sha256) is None  # the hash is not a token
    assert book.caller(first[:-1]) is None


@given(st.text(max_size=80))
def test_no_other_string_opens_the_book(guess):
    token, entry = new_token(name="only", scopes={Scope.ADMIN}, all_clinics=True)
    book = TokenBook([entry])
    assert (book.caller(guess) is not None) == (guess == token)


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "x", "sha256": "drk_plaintexttoken", "scopes": ["admin"]},
        {"name": "x", "sha256": "A" * 64, "scopes": ["admin"]},
        {"name": "x", "sha256": "a" * 64, "scopes": []},
        {"name": "x", "sha256": "a" * 64, "scopes": ["root"]},
        {"name": "has space", "sha256": "a" * 64, "scopes": ["admin"]},
        {"name": "x", "sha256": "a" * 64, "scopes": ["admin"], "token": "drk_x"},
    ],
)
def test_entries_that_are_not_hashed_named_and_scoped_are_refused(entry):
    with pytest.raises(ValidationError):
        TokenEntry.model_validate(entry)


def test_duplicate_names_are_refused():
    _, one = new_token(name="same", scopes={Scope.ADMIN}, all_clinics=True)
    _, two = new_token(name="same", scopes={Scope.ADMIN}, all_clinics=True)
    with pytest.raises(ValueError, match="unique"):
        TokenBook([one, two])


def test_a_lookup_without_io_never_touches_the_token_table_and_io_due_says_when_one_would(
    monkeypatch,
):
    token, entry = new_token(name="stored", scopes={Scope.RISK_WRITE}, all_clinics=True)
    reads, uses = [], []

    def source():
        reads.append(1)
        return [entry]

    book = TokenBook(
        [], source=source, refresh_seconds=3600, on_use=lambda name, _: uses.append(name)
    )
    assert book.io_due(token)  # the table was never read
    assert book.caller(token, io=False) is None  # so the token is not known yet
    assert reads == [] and uses == []
    assert book.caller(token).name == "stored"
    assert reads == [1] and uses == ["stored"]
    assert not book.io_due(token)  # read, and its use stamped less than a minute ago
    assert book.caller(token, io=False).name == "stored"
    assert reads == [1] and uses == ["stored"]
    assert not book.io_due("drk_not-a-token")  # nothing to stamp for an unknown token
    monkeypatch.setattr("service.security.LAST_USE_EVERY_SECONDS", 0.0)
    assert book.io_due(token)  # its use is due to be stamped again
