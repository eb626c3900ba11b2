"""The cores this process may use (no heavy imports: ``serve`` asks before it loads XGBoost,
whose OpenMP reads its settings when it is loaded)."""

from __future__ import annotations

import os
from pathlib import Path

#: cgroup v2's CPU limit of this process's group: "<quota> <period>" or "max <period>".
CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cores(*, cpu_max: Path = CPU_MAX) -> int:
    """The cores this process may use: the CPUs it may run on, and no more than a
    container's cgroup v2 CPU quota (``docker --cpus``, a Kubernetes CPU limit), which the
    CPU count does not show: processes or threads beyond the quota would only be throttled.
    """
    try:
        cores = len(os.sched_getaffinity(0))  # a container's CPU set, where there is one
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass  # no cgroup v2 limit to read: the CPU count stands
    return cores
