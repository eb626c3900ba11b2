"""The line every benchmark prints about the machine it ran on: results mean little without it."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import tempfile
import time

import psutil


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


def tree_rss(process: psutil.Process) -> int:
    """Resident set size of ``process`` and all its descendants, in bytes (0 for gone ones)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def measure_command(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``command``; return wall seconds, peak tree RSS in MB and its standard output."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True)
        watched = psutil.Process(child.pid)
        peak = 0
        while child.poll() is None:
            with contextlib.suppress(psutil.Error):
                peak = max(peak, tree_rss(watched))
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        output, errors = out.read(), err.read()
    if child.returncode != 0:
        print(output[-3000:], errors[-3000:], file=sys.stderr)
        raise SystemExit(f"failed: {' '.join(command)}")
    return elapsed, peak / 2**20, output
