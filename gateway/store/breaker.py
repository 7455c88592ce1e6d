"""A circuit breaker around every store call: an outage costs a handful of requests a timeout,
not every request.

    closed ──(FAILURES consecutive failures)──> open ──(COOLDOWN passes)──> half_open
      ^                                          ^                              │
      └──────────────(the probe succeeds)────────┴──────(the probe fails)───────┘

While open, calls fail at once without touching the network. Half-open lets exactly one call
through as a probe; the others still fail fast until it answers. Each change between healthy
(closed) and degraded (open, half-open) is logged once, never per request.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

import structlog
from redis import exceptions as redis_errors
from redis.exceptions import RedisClusterException, RedisError

__all__ = ["COOLDOWN", "FAILURES", "BreakerOpen", "CircuitBreaker", "reason_of"]

log = structlog.get_logger(__name__)

T = TypeVar("T")
State = Literal["closed", "open", "half_open"]

FAILURES = 3  # consecutive failures that open the breaker
COOLDOWN = 1.0  # seconds open before one probe may go through


class BreakerOpen(Exception):
    """The store is treated as down: the call was not attempted, or it just failed."""


class CircuitBreaker:
    def __init__(
        self,
        timeout: float,
        *,
        failures: int = FAILURES,
        cooldown: float = COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self._failures_to_open = failures
        self._cooldown = cooldown
        self._clock = clock
        self.state: State = "closed"
        self._consecutive = 0
        self._opened_at = 0.0
        self._probing = False
        #: Failed store calls by operation ("limit", "load", "save", ...), for metrics.
        self.errors: Counter[str] = Counter()

    @property
    def healthy(self) -> bool:
        return self.state == "closed"

    async def call(self, operation: str, action: Callable[[], Awaitable[T]]) -> T:
        """`action()` within the timeout; BreakerOpen when refused or failed."""
        probe = self._admit()
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for runs the action in a task of its
            # own, a task per store call on the hot path.
            async with asyncio.timeout(self.timeout):
                result = await action()
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
            self._failed(operation, probe, exc)
            raise BreakerOpen(operation) from exc
        finally:
            if probe:
                self._probing = False
        self._succeeded(probe)
        return result

    def _admit(self) -> bool:
        """Whether this call is the half-open probe; raises when the call may not go through."""
        if self.state == "open" and self._clock() - self._opened_at >= self._cooldown:
            self.state = "half_open"
        if self.state == "closed":
            return False
        if self.state == "half_open" and not self._probing:
            self._probing = True
            return True
        raise BreakerOpen("circuit open")

    def _failed(self, operation: str, probe: bool, exc: BaseException) -> None:
        self.errors[operation] += 1
        self._consecutive += 1
        if probe or (self.state == "closed" and self._consecutive >= self._failures_to_open):
            if self.state == "closed":
                log.warning("store_degraded", operation=operation, failures=self._consecutive,
                            reason=reason_of(exc))  # fmt: skip
            self.state, self._opened_at = "open", self._clock()

    def _succeeded(self, probe: bool) -> None:
        # Only the probe closes an open breaker: a call that began before the outage and still
        # got through says nothing about the store now.
        if probe:
            self.state = "closed"
            log.info("store_recovered")
        if self.state == "closed":
            self._consecutive = 0


#: Why a store call failed, as a fixed word (most specific first): for the store_degraded line.
_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (redis_errors.AuthenticationError, "auth"),
    (redis_errors.NoPermissionError, "auth"),
    (redis_errors.BusyLoadingError, "loading"),
    (redis_errors.ReadOnlyError, "readonly"),
    (redis_errors.TimeoutError, "timeout"),
    (TimeoutError, "timeout"),
    (ConnectionRefusedError, "refused"),
    (redis_errors.ConnectionError, "connection"),
    (OSError, "connection"),
    (redis_errors.ResponseError, "response"),
    (RedisClusterException, "cluster"),
)


def reason_of(exc: BaseException) -> str:
    """The reason word for a failed store call: auth, loading, readonly, timeout, refused,
    connection, response, cluster or other."""
    causes = [exc, exc.__cause__, exc.__context__]
    for kind, word in _REASONS:
        if any(isinstance(c, kind) for c in causes):
            return word
    return "other"
