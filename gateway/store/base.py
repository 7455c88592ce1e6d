"""What a store must do, whatever keeps the state: this process (`memory://`) or Redis.

Two narrow interfaces, so the request path never knows which backend it talks to:

* `SessionStore` keeps the OMA session token of each upstream, with a lease that makes token
  refresh a single flight (per process in memory, per fleet in Redis), compare-and-delete so a
  stale token is dropped only if it is still the current one, and the back-off after rejected
  logins.
* `Limiter` checks and consumes every rate limit that applies to a request in one atomic step: a
  request denied by one limit consumes none of the others.
* `CallerTokens` keeps the session tokens the gateway issues to its own callers (OMA token mode
  through the gateway), by digest only: the token itself is never stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..secrets import Secret
from ..settings import RateSpec

__all__ = [
    "CallerTokens",
    "Decision",
    "LimitRule",
    "LimitState",
    "Limiter",
    "SessionStore",
    "Store",
    "StoredToken",
    "TokenGrant",
]


@dataclass(frozen=True, slots=True)
class StoredToken:
    token: Secret
    issued_at: float  # epoch seconds, the upstream's view of when the lifetime started
    expires_at: float  # epoch seconds; OMA refuses the token from then on
    refresh_at: float  # epoch seconds; when one replica should fetch the next token

    def usable(self, now: float) -> bool:
        return now < self.expires_at


class SessionStore(Protocol):
    async def load(self, upstream: str) -> StoredToken | None: ...

    async def save(self, upstream: str, token: StoredToken) -> None: ...

    async def discard(self, upstream: str, token: Secret) -> bool:
        """Drop the upstream's token only if it is still `token`; True when it was dropped."""
        ...

    async def acquire_lease(self, upstream: str, ttl: float) -> object | None:
        """The right to log in for `upstream` for `ttl` seconds, or None if another holds it."""
        ...

    async def release_lease(self, upstream: str, lease: object) -> None:
        """Give the lease back, only if it is still ours (it may have expired and moved on)."""
        ...

    # Back-off after OMA rejected the gateway's own login, shared like the token: a wrong
    # password costs the account one attempt per back-off step for the fleet, not per process.
    async def login_blocked(self, upstream: str) -> float:
        """Seconds the back-off still forbids a password login (0: none)."""
        ...

    async def login_rejected(self, upstream: str, first: float, cap: float) -> float:
        """Count one rejected login; the back-off now in force (first, doubling, capped)."""
        ...

    async def login_succeeded(self, upstream: str) -> None:
        """A login worked: the back-off and its count start over."""
        ...


@dataclass(frozen=True, slots=True)
class LimitRule:
    policy: str  # "caller", "method" or "upstream": the name callers see in RateLimit headers
    key: str  # the state's identity, e.g. "caller:billing"
    spec: RateSpec


@dataclass(frozen=True, slots=True)
class LimitState:
    rule: LimitRule
    allowed: bool
    remaining: int
    reset_after: float  # seconds until the limit is whole again
    retry_after: float  # seconds until one more request would pass (0 when allowed)


@dataclass(frozen=True, slots=True)
class Decision:
    states: tuple[LimitState, ...]
    #: True when the store could not be asked and the answer is the `on_error` policy's.
    degraded: bool = False

    @property
    def allowed(self) -> bool:
        return all(s.allowed or s.rule.spec.shadow for s in self.states)

    @property
    def shadow_denied(self) -> tuple[LimitState, ...]:
        return tuple(s for s in self.states if s.rule.spec.shadow and not s.allowed)

    @property
    def retry_after(self) -> float:
        return max((s.retry_after for s in self.states if not s.rule.spec.shadow), default=0.0)


class Limiter(Protocol):
    async def check(self, rules: Sequence[LimitRule]) -> Decision: ...


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a caller session token stands for: the caller, the key it was issued against (the
    token dies with that key), and when it expires."""

    caller: str
    key_digest: str
    expires_at: float
    #: For a download link: OMA's own tokenised URL, fetched by the gateway and never shown.
    url: str = ""


class CallerTokens(Protocol):
    async def put(self, token_digest: str, grant: TokenGrant) -> None: ...

    async def get(self, token_digest: str) -> TokenGrant | None:
        """The grant while it has not expired; None for unknown, expired or unreadable."""
        ...


class Store(Protocol):
    @property
    def sessions(self) -> SessionStore: ...

    @property
    def caller_tokens(self) -> CallerTokens: ...

    @property
    def limiter(self) -> Limiter: ...

    # Health, read at metrics scrape time (never per request).
    @property
    def healthy(self) -> bool:
        """False while the store is treated as down (breaker open or half-open)."""
        ...

    @property
    def breaker_state(self) -> str:
        """ "closed" (healthy), "open" (failing fast) or "half_open" (one probe in flight)."""
        ...

    @property
    def errors(self) -> Mapping[str, int]:
        """Failed store calls by operation: limit, load, save, discard, lease, release, ping."""
        ...

    @property
    def fallbacks(self) -> Mapping[str, int]:
        """Operations answered in-process while the store was down, by operation."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...
