"""The embedded store: state in this process only (one replica, or tests)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence

from ..secrets import Secret
from .base import Decision, LimitRule, LimitState, StoredToken, TokenGrant
from .gcra import gcra

__all__ = ["MemoryCallerTokens", "MemoryLimiter", "MemorySessions", "MemoryStore"]


class MemorySessions:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._tokens: dict[str, StoredToken] = {}
        self._leases: dict[str, tuple[object, float]] = {}
        self._rejections: dict[str, tuple[int, float]] = {}  # upstream: (in a row, blocked until)
        self._clock = clock

    async def load(self, upstream: str) -> StoredToken | None:
        return self._tokens.get(upstream)

    async def save(self, upstream: str, token: StoredToken) -> None:
        self._tokens[upstream] = token

    async def discard(self, upstream: str, token: Secret) -> bool:
        current = self._tokens.get(upstream)
        if current is None or current.token != token:
            return False
        del self._tokens[upstream]
        return True

    async def acquire_lease(self, upstream: str, ttl: float) -> object | None:
        now = self._clock()
        held = self._leases.get(upstream)
        if held is not None and held[1] > now:
            return None
        lease = object()
        self._leases[upstream] = (lease, now + ttl)
        return lease

    async def release_lease(self, upstream: str, lease: object) -> None:
        held = self._leases.get(upstream)
        if held is not None and held[0] is lease:
            del self._leases[upstream]

    async def login_blocked(self, upstream: str) -> float:
        _, until = self._rejections.get(upstream, (0, 0.0))
        return max(0.0, until - self._clock())

    async def login_rejected(self, upstream: str, first: float, cap: float) -> float:
        count = self._rejections.get(upstream, (0, 0.0))[0] + 1
        backoff = min(cap, first * 2.0 ** min(count - 1, 60))
        self._rejections[upstream] = (count, self._clock() + backoff)
        return backoff

    async def login_succeeded(self, upstream: str) -> None:
        self._rejections.pop(upstream, None)


class MemoryLimiter:
    """GCRA over a dict. Keys come from the config (callers, configured methods, upstreams), so
    the dict is bounded by the config, not by what callers send."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._tats: dict[str, float] = {}
        self._clock = clock

    async def check(self, rules: Sequence[LimitRule]) -> Decision:
        return self.check_now(rules, self._clock())

    def check_now(self, rules: Sequence[LimitRule], now: float) -> Decision:
        results = [(rule, gcra(rule.spec, self._tats.get(rule.key, now), now)) for rule in rules]
        states = tuple(
            LimitState(rule, allowed, remaining, reset_after, retry_after)
            for rule, (allowed, _, remaining, reset_after, retry_after) in results
        )
        decision = Decision(states)
        if decision.allowed:
            # All or nothing: only an admitted request moves any TAT (a shadow rule that would
            # have denied keeps its TAT, exactly as an enforced one would).
            for rule, (allowed, new_tat, *_) in results:
                if allowed:
                    self._tats[rule.key] = new_tat
        return decision


class MemoryCallerTokens:
    """Caller tokens of this process. Bounded: beyond `capacity` the expired go first, then the
    oldest, so no amount of `authenticate` calls grows memory without bound."""

    def __init__(self, clock: Callable[[], float] = time.time, capacity: int = 100_000) -> None:
        self._grants: dict[str, TokenGrant] = {}
        self._clock, self._capacity = clock, capacity

    async def put(self, token_digest: str, grant: TokenGrant) -> None:
        self.put_now(token_digest, grant)

    def put_now(self, token_digest: str, grant: TokenGrant) -> None:
        if len(self._grants) >= self._capacity:
            self._evict()
        self._grants[token_digest] = grant

    async def get(self, token_digest: str) -> TokenGrant | None:
        return self.get_now(token_digest)

    def get_now(self, token_digest: str) -> TokenGrant | None:
        grant = self._grants.get(token_digest)
        if grant is not None and grant.expires_at <= self._clock():
            del self._grants[token_digest]
            return None
        return grant

    def _evict(self) -> None:
        now = self._clock()
        for digest in [d for d, g in self._grants.items() if g.expires_at <= now]:
            del self._grants[digest]
        while len(self._grants) >= self._capacity:
            del self._grants[next(iter(self._grants))]  # dicts keep insertion order: the oldest


class MemoryStore:
    #: Always healthy: there is nothing to lose contact with (same attributes as Redis's).
    healthy, breaker_state = True, "closed"

    def __init__(self) -> None:
        self.sessions = MemorySessions()
        self.limiter = MemoryLimiter()
        self.caller_tokens = MemoryCallerTokens()
        self.errors: Mapping[str, int] = {}
        self.fallbacks: Mapping[str, int] = {}

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        await asyncio.sleep(0)
