"""The cores a process may use: its CPU set, capped by a container's CPU quota."""

from __future__ import annotations

import os

import pytest

from models.cores import usable_cores


def test_the_usable_cores_are_the_cpu_set_without_a_cgroup_limit(tmp_path):
    assert usable_cores(cpu_max=tmp_path / "absent") == len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("cpu_max", "cores"),
    [("max 100000", 4), ("200000 100000", 2), ("150000 100000", 1), ("50000 100000", 1)],
)
def test_a_containers_cpu_quota_caps_the_usable_cores(monkeypatch, tmp_path, cpu_max, cores):
    monkeypatch.setattr("os.sched_getaffinity", lambda _: set(range(4)), raising=False)
    limit = tmp_path / "cpu.max"
    limit.write_text(cpu_max + "\n")
    assert usable_cores(cpu_max=limit) == cores
