"""The generic cell rate algorithm, as pure arithmetic shared by every backend.

A limit of `rate` per second with bursts of `burst` keeps one number per key, the theoretical
arrival time (TAT). A request at `now` is admitted when `now >= TAT + T - burst*T` (T = 1/rate);
admitting it moves TAT to `max(TAT, now) + T`. The Redis backend runs the same arithmetic in Lua.
"""

from __future__ import annotations

import math

from ..settings import RateSpec

__all__ = ["SLACK", "gcra"]

SLACK = 1e-6  # seconds


def gcra(spec: RateSpec, tat: float, now: float) -> tuple[bool, float, int, float, float]:
    """(allowed, new_tat, remaining, reset_after, retry_after) for one request at `now`."""
    interval = spec.emission_interval
    capacity = interval * spec.burst
    new_tat = max(tat, now) + interval
    allow_at = new_tat - capacity
    # A microsecond of slack: `(now + T) - burst*T` can round to just above `now` and would
    # refuse a call the limit admits (seen with burst 1 and a long interval).
    if allow_at - now > SLACK:
        remaining = 0
        reset_after = max(tat, now) - now
        return False, tat, remaining, reset_after, allow_at - now
    remaining = math.floor((now - allow_at) / interval + 1e-9)
    return True, new_tat, remaining, new_tat - now, 0.0
