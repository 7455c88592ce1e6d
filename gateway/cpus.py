"""How many cores this process may use: what `serve --workers auto` starts one worker per.

The answer must be the container's CPU limit, not the node's core count: in a container the CPU
affinity (and `os.cpu_count()`) is the node's, and a worker per node core under a pod's memory
limit is how a pod gets OOM-killed. The limit lives only in the cgroup's CPU quota.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

__all__ = ["CGROUP_CPU_MAX", "CGROUP_V1_QUOTA", "usable_cpus"]

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "QUOTA PERIOD" or "max PERIOD"
CGROUP_V1_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")  # cgroup v1: -1 without a quota


def usable_cpus(cpu_max: Path = CGROUP_CPU_MAX, v1_quota: Path = CGROUP_V1_QUOTA) -> int:
    """Its CPU affinity, capped by the cgroup's CPU quota (rounded up) whenever there is one."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = _cgroup_quota(cpu_max, v1_quota)
    return max(1, min(cpus or 1, quota or cpus or 1))


def _cgroup_quota(cpu_max: Path, v1_quota: Path) -> int | None:
    try:
        quota, period = cpu_max.read_text().split()
        return None if quota == "max" else math.ceil(int(quota) / int(period))
    except (OSError, ValueError, ZeroDivisionError):
        pass
    try:
        quota = v1_quota.read_text().strip()
        period = (v1_quota.parent / "cpu.cfs_period_us").read_text().strip()
        return None if int(quota) <= 0 else math.ceil(int(quota) / int(period))
    except (OSError, ValueError, ZeroDivisionError):
        return None
