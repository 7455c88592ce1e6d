"""One caller's share of an upstream: at most N of its calls in flight there at once.

Every caller of an upstream shares its connection pool (`max_connections`): a caller that sends
faster than OMA answers would fill the pool, and the other callers' calls would wait behind its
queue until they time out. The gate counts each caller's calls from the moment they ask for the
session until OMA's answer (the resend included) and refuses one beyond the bound at once with
`rate_limited`, so the caller backs off instead of holding memory in a queue.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Iterator

from .errors import RateLimited

__all__ = ["InFlightGate"]


class InFlightGate:
    def __init__(self, limit: int) -> None:
        self.limit = limit  # 0: no bound
        self._counts: dict[str, int] = {}  # only callers with calls in flight: config-bounded
        #: Calls refused, by caller, for metrics.
        self.refused: collections.Counter[str] = collections.Counter()

    def in_flight(self, caller: str) -> int:
        return self._counts.get(caller, 0)

    @contextlib.contextmanager
    def enter(self, caller: str) -> Iterator[None]:
        count = self._counts.get(caller, 0)
        if self.limit and count >= self.limit:
            self.refused[caller] += 1
            raise RateLimited(
                "too many of this caller's calls in flight to OMA, retry later",
                headers=self._headers(),
            )
        self._counts[caller] = count + 1
        try:
            yield
        finally:
            self._leave(caller)

    def _leave(self, caller: str) -> None:
        left = self._counts[caller] - 1
        if left:
            self._counts[caller] = left
        else:
            del self._counts[caller]

    def _headers(self) -> dict[str, str]:
        return {
            "Retry-After": "1",
            "RateLimit-Policy": f'"in_flight";q={self.limit}',
            "RateLimit": '"in_flight";r=0;t=1',
        }
