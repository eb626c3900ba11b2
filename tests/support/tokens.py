"""API tokens for tests: one per scope and one with every scope, and their headers."""

from __future__ import annotations

from dataclasses import dataclass

from service.security import Scope, TokenEntry, new_token


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of ``token``."""
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Tokens:
    """Test tokens: one per scope, and one with every scope."""

    by_scope: dict[Scope, str]
    all: str
    entries: list[TokenEntry]

    def header(self, scope: Scope | None = None) -> dict[str, str]:
        """The Authorization header of the token of ``scope`` (of every scope when None)."""
        return bearer(self.all if scope is None else self.by_scope[scope])


def make_tokens() -> Tokens:
    """A token per scope (named after it) and one named "all" with every scope."""
    by_scope, entries = {}, []
    for scope in Scope:
        token, entry = new_token(
            name=scope.value.replace(":", "-"), scopes={scope}, all_clinics=True
        )
        by_scope[scope] = token
        entries.append(entry)
    every, entry = new_token(name="all", scopes=set(Scope), all_clinics=True)
    return Tokens(by_scope=by_scope, all=every, entries=[*entries, entry])
