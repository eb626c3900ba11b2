"""Output helpers for the command line: results to stdout, progress and errors to stderr."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console


def say(text: str) -> None:
    """Print one line of a command's result."""
    typer.echo(text)


def fail(reason: str, *, details: Iterable[str] = (), code: int = 1) -> NoReturn:
    """Print ``details`` (one line each), then a one-line reason, to stderr; exit non-zero."""
    for line in details:
        typer.echo(line, err=True)
    typer.echo(f"error: {reason}", err=True)
    raise typer.Exit(code)


@contextmanager
def progress(task: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr; the yielded callback logs a finished step and starts the next."""
    console = Console(stderr=True)
    started = time.perf_counter()
    with console.status(f"{task}…", spinner="dots") as status:

        def step(message: str) -> None:
            console.log(f"[{time.perf_counter() - started:6.1f}s] {message}")
            status.update(f"{message}…")

        yield step
