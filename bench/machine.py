"""The line every benchmark prints about the machine it ran on: results mean little without it."""

from __future__ import annotations

import os
import platform


def machine_line(
    load_before: tuple[float, ...], load_after: tuple[float, ...] | None = None
) -> str:
    """Platform, Python, cores, and the load average before and after the run."""
    after = os.getloadavg() if load_after is None else load_after
    return (
        f"machine: {platform.platform()}, Python {platform.python_version()}, "
        f"os.cpu_count() = {os.cpu_count()}; load average before: "
        + ", ".join(f"{x:.2f}" for x in load_before)
        + "; after: "
        + ", ".join(f"{x:.2f}" for x in after)
    )
