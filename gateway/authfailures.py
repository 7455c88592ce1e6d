"""Repeated authentication failures from one address: counted, and answered `rate_limited`.

The choice: only FAILED attempts are ever counted or throttled, and the throttle applies when an
attempt has failed, never before a key is checked. A key that identifies a caller is served
whatever its address has done, so one bad client behind a shared NAT (a pod network, an office)
cannot lock out the good callers beside it. Keys are 256-bit random and looked up by digest, so
guessing was never the threat; what a failure storm costs is work, audit volume and log lines.
Past `failures` failures within `window` seconds, an address's further failures are answered
`rate_limited` (429, with `Retry-After`) until the window ends.

Memory is bounded: at most `max_addresses` addresses are tracked, the oldest forgotten first.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from aiohttp import web

from .errors import GatewayError, RateLimited

__all__ = ["AUTH_FAILURES", "AuthFailures"]


class AuthFailures:
    def __init__(
        self,
        *,
        failures: int = 20,
        window: float = 60.0,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures, self.window, self.max_addresses = failures, window, max_addresses
        self._clock = clock
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()  # address -> start, count

    def failed(self, remote: str | None, error: GatewayError) -> GatewayError:
        """Count a failed attempt from `remote`; the answer it gets (`error`, or rate_limited)."""
        if remote is None:
            return error
        start, count = self._count(remote)
        if count <= self.failures:
            return error
        retry = max(1, math.ceil(start + self.window - self._clock()))
        return RateLimited(
            "too many failed authentications from this address, retry later",
            headers={"Retry-After": str(retry)},
        )

    def _count(self, remote: str) -> tuple[float, int]:
        now = self._clock()
        start, count = self._seen.pop(remote, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        self._seen[remote] = (start, count + 1)
        while len(self._seen) > self.max_addresses:
            self._seen.popitem(last=False)
        return start, count + 1


#: The process's failure counts, shared by every call (one app, one counter set).
AUTH_FAILURES = web.AppKey("auth_failures", AuthFailures)
