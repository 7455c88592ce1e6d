"""The shared store as the request path sees it: Redis when it answers, this process when not.

Every Redis call goes through one `CircuitBreaker` (a short timeout each, then fail fast while
open). What a refused or failed call means depends on what it was for:

* rate limiting follows `store.on_error`: `fail_open` answers from a per-process `MemoryLimiter`
  (or admits everything when `local_fallback` is off), marked `Decision.degraded`; `fail_closed`
  raises `StoreUnavailable` (503). The local rules are the configured ones divided by the
  number of processes that share the store (`store.replicas` times this pod's workers), so the
  fleet as a whole grants about the configured budget during an outage, not N times it. A burst
  is never divided below 1 per process.
* session custody always falls back to this process's `MemorySessions`, so callers are still
  served: each replica then logs in for itself until Redis is back. Every saved token is kept in
  memory too, so a replica that loses Redis keeps the fleet's token it last saw.
* caller session tokens are issued into this process's memory while Redis is down (see
  `FallbackCallerTokens`).

Attributes for metrics, read at scrape time: `healthy`, `breaker_state`, `errors` (failed Redis
calls by operation) and `fallbacks` (operations answered in-process by operation).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from ..errors import StoreUnavailable
from ..secrets import Secret
from ..settings import RateSpec, StoreSettings
from .base import Decision, LimitRule, StoredToken, TokenGrant
from .breaker import BreakerOpen, CircuitBreaker
from .memory import MemoryCallerTokens, MemoryLimiter, MemorySessions
from .redis_store import RedisCallerTokens, RedisLease, RedisLimiter, RedisSessions, RedisStore

__all__ = [
    "FallbackCallerTokens",
    "FallbackLimiter",
    "FallbackSessions",
    "ResilientStore",
    "divided",
]


class FallbackLimiter:
    def __init__(
        self,
        redis: RedisLimiter,
        breaker: CircuitBreaker,
        settings: StoreSettings,
        *,
        workers: int = 1,
    ) -> None:
        self._redis = redis
        self._breaker = breaker
        self._fail_closed = settings.on_error == "fail_closed"
        self._local = MemoryLimiter() if settings.local_fallback else None
        #: Processes that share the store, each granting its part of a limit in an outage.
        self.share = max(1, settings.replicas) * max(1, workers)
        self._parts: dict[LimitRule, LimitRule] = {}  # bounded by the config's rules
        self.fallbacks: Counter[str] = Counter()

    async def check(self, rules: Sequence[LimitRule]) -> Decision:
        try:
            return await self._breaker.call("limit", lambda: self._redis.check(rules))
        except BreakerOpen as exc:
            if self._fail_closed:
                raise StoreUnavailable() from exc
        self.fallbacks["limit"] += 1
        if self._local is None:
            return Decision((), degraded=True)
        local = await self._local.check([self._part(rule) for rule in rules])
        return Decision(local.states, degraded=True)

    def _part(self, rule: LimitRule) -> LimitRule:
        part = self._parts.get(rule)
        if part is None:
            part = self._parts[rule] = replace(rule, spec=divided(rule.spec, self.share))
        return part


def divided(spec: RateSpec, share: int) -> RateSpec:
    """One process's part of a limit shared by `share` processes."""
    return replace(spec, rate=spec.rate / share, burst=max(1, math.ceil(spec.burst / share)))


class FallbackSessions:
    def __init__(self, redis: RedisSessions, breaker: CircuitBreaker) -> None:
        self._redis = redis
        self._breaker = breaker
        self._local = MemorySessions()
        self.fallbacks: Counter[str] = Counter()

    async def load(self, upstream: str) -> StoredToken | None:
        try:
            return await self._breaker.call("load", lambda: self._redis.load(upstream))
        except BreakerOpen:
            self.fallbacks["load"] += 1
            return await self._local.load(upstream)

    async def save(self, upstream: str, token: StoredToken) -> None:
        await self._local.save(upstream, token)
        try:
            await self._breaker.call("save", lambda: self._redis.save(upstream, token))
        except BreakerOpen:
            self.fallbacks["save"] += 1

    async def discard(self, upstream: str, token: Secret) -> bool:
        dropped_here = await self._local.discard(upstream, token)
        try:
            return await self._breaker.call("discard", lambda: self._redis.discard(upstream, token))
        except BreakerOpen:
            self.fallbacks["discard"] += 1
            return dropped_here

    async def acquire_lease(self, upstream: str, ttl: float) -> object | None:
        try:
            return await self._breaker.call(
                "lease", lambda: self._redis.acquire_lease(upstream, ttl)
            )
        except BreakerOpen:
            # The in-process lease still makes this replica's logins a single flight.
            self.fallbacks["lease"] += 1
            return await self._local.acquire_lease(upstream, ttl)

    async def release_lease(self, upstream: str, lease: object) -> None:
        if not isinstance(lease, RedisLease):
            await self._local.release_lease(upstream, lease)
            return
        try:
            await self._breaker.call("release", lambda: self._redis.release_lease(upstream, lease))
        except BreakerOpen:
            self.fallbacks["release"] += 1  # the lease expires on its own (PX)

    # The login back-off is kept here as well as in Redis, so that a replica that loses Redis
    # keeps backing off from where the fleet was.
    async def login_blocked(self, upstream: str) -> float:
        try:
            return await self._breaker.call("backoff", lambda: self._redis.login_blocked(upstream))
        except BreakerOpen:
            self.fallbacks["backoff"] += 1
            return await self._local.login_blocked(upstream)

    async def login_rejected(self, upstream: str, first: float, cap: float) -> float:
        local = await self._local.login_rejected(upstream, first, cap)
        try:
            return await self._breaker.call(
                "backoff", lambda: self._redis.login_rejected(upstream, first, cap)
            )
        except BreakerOpen:
            self.fallbacks["backoff"] += 1
            return local

    async def login_succeeded(self, upstream: str) -> None:
        await self._local.login_succeeded(upstream)
        try:
            await self._breaker.call("backoff", lambda: self._redis.login_succeeded(upstream))
        except BreakerOpen:
            self.fallbacks["backoff"] += 1


class FallbackCallerTokens:
    """Caller tokens in Redis, or in this process while Redis is down. A token issued during an
    outage works on the replica that issued it; one issued before it is found by no replica,
    its issuer included, until Redis is back (the caller gets `unauthenticated`)."""

    def __init__(self, redis: RedisCallerTokens, breaker: CircuitBreaker) -> None:
        self._redis, self._breaker = redis, breaker
        self._local = MemoryCallerTokens()
        self.fallbacks: Counter[str] = Counter()

    async def put(self, token_digest: str, grant: TokenGrant) -> None:
        try:
            await self._breaker.call("token_put", lambda: self._redis.put(token_digest, grant))
        except BreakerOpen:
            self.fallbacks["token_put"] += 1
            self._local.put_now(token_digest, grant)

    async def get(self, token_digest: str) -> TokenGrant | None:
        try:
            found = await self._breaker.call("token_get", lambda: self._redis.get(token_digest))
        except BreakerOpen:
            self.fallbacks["token_get"] += 1
            found = None
        return found or self._local.get_now(token_digest)


class ResilientStore:
    def __init__(self, settings: StoreSettings, *, workers: int = 1) -> None:
        self.redis = RedisStore(settings)
        self.breaker = CircuitBreaker(settings.timeout)
        self.sessions = FallbackSessions(self.redis.sessions, self.breaker)
        self.limiter = FallbackLimiter(self.redis.limiter, self.breaker, settings, workers=workers)
        self.caller_tokens = FallbackCallerTokens(self.redis.caller_tokens, self.breaker)

    @property
    def healthy(self) -> bool:
        return self.breaker.healthy

    @property
    def breaker_state(self) -> str:
        return self.breaker.state

    @property
    def errors(self) -> Counter[str]:
        return self.breaker.errors

    @property
    def fallbacks(self) -> Counter[str]:
        return self.limiter.fallbacks + self.sessions.fallbacks + self.caller_tokens.fallbacks

    async def ping(self) -> bool:
        """Whether Redis answers now; never raises (readiness asks this)."""
        try:
            return await self.breaker.call("ping", self.redis.ping)
        except BreakerOpen:
            return False

    async def close(self) -> None:
        await self.redis.close()
