"""Polling instead of fixed sleeps: wait for what the test needs, no longer, and say what
did not happen when it never does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 30.0,
    *,
    interval: float = 0.05,
    what: str | Callable[[], object] = "the condition",
) -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns something true.

    Args:
        predicate: What to wait for; exceptions it raises propagate.
        timeout: Seconds before giving up.
        interval: Seconds between calls.
        what: Named in the failure; a callable is called then (a log, a status).

    Returns:
        The first true value ``predicate`` returned.

    Raises:
        AssertionError: ``predicate`` was still false after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"not within {timeout} s: {said}")
        time.sleep(interval)
