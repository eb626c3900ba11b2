"""Output helpers for the command line: results to stdout, progress and errors to stderr."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console


def _stderr() -> Console:
    return Console(stderr=True)


def say(text: str) -> None:
    """Print one line of a command's result."""
    typer.echo(text)


def fail(reason: str, *, code: int = 1) -> NoReturn:
    """Print a one-line reason to stderr and exit non-zero."""
    typer.echo(f"error: {reason}", err=True)
    raise typer.Exit(code)


@contextmanager
def progress(task: str) -> Iterator[None]:
    """Show a spinner with elapsed time on stderr while a step runs."""
    console = _stderr()
    with console.status(f"{task}…", spinner="dots"):
        yield
