"""`--workers auto` counts the container's CPU limit (the cgroup quota), never the node's cores."""

from __future__ import annotations

import os
from pathlib import Path

from gateway.cpus import usable_cpus

NODE = len(os.sched_getaffinity(0))
NOWHERE = Path("/nonexistent/cpu.cfs_quota_us")


def cgroup(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpu.max"
    path.write_text(text)
    return path


def test_a_cgroup_v2_quota_caps_the_worker_count_rounded_up(tmp_path: Path) -> None:
    assert usable_cpus(cgroup(tmp_path, "150000 100000\n"), NOWHERE) == min(NODE, 2)
    assert usable_cpus(cgroup(tmp_path, "50000 100000\n"), NOWHERE) == 1  # 500m: one worker


def test_a_quota_above_the_affinity_does_not_raise_it(tmp_path: Path) -> None:
    assert usable_cpus(cgroup(tmp_path, "6400000 100000\n"), NOWHERE) == NODE


def test_no_quota_means_the_affinity(tmp_path: Path) -> None:
    assert usable_cpus(cgroup(tmp_path, "max 100000\n"), NOWHERE) == NODE
    assert usable_cpus(tmp_path / "absent", NOWHERE) == NODE
    assert usable_cpus(cgroup(tmp_path, "garbage"), NOWHERE) == NODE


def test_a_cgroup_v1_quota_counts_when_there_is_no_v2_file(tmp_path: Path) -> None:
    (tmp_path / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu.cfs_period_us").write_text("100000\n")
    assert usable_cpus(tmp_path / "absent", tmp_path / "cpu.cfs_quota_us") == 1
    (tmp_path / "cpu.cfs_quota_us").write_text("-1\n")
    assert usable_cpus(tmp_path / "absent", tmp_path / "cpu.cfs_quota_us") == NODE
