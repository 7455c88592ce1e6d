"""Evidence that row (e) did the work it claims: limits decided, audit lines written."""

from __future__ import annotations

import collections
from pathlib import Path

from bench.procs import http_ok

DECISIONS = "oma_gateway_ratelimit_decisions_total"


def limit_decisions(admin_port: int) -> dict[str, float]:
    """Rate-limit decisions by outcome, summed over callers, from the admin /metrics."""
    text = http_ok(f"http://127.0.0.1:{admin_port}/metrics").decode()
    totals: dict[str, float] = collections.defaultdict(float)
    for line in text.splitlines():
        if line.startswith(DECISIONS + "{") and 'decision="' in line:
            decision = line.split('decision="', 1)[1].split('"', 1)[0]
            totals[decision] += float(line.rsplit(" ", 1)[1])
    return dict(totals)


def audit_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as f:
        return sum(1 for _ in f)


def evidence(admin_port: int, audit: Path) -> str:
    try:
        decisions = limit_decisions(admin_port)
    except OSError as exc:
        return f"metrics unreadable: {exc}"
    allowed, denied = int(decisions.get("allowed", 0)), int(decisions.get("denied", 0))
    return f"limits: {allowed:,} allowed / {denied} denied; audit: {audit_lines(audit):,} lines"
