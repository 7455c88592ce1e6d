"""Custody of one upstream's OMA session: one token for every caller of the upstream.

The request path asks `current()`, which answers from this process's copy without any I/O while
the token is fresh. Getting a token is a single flight at two levels: within the process one task
does it and every caller awaits that task; across replicas a store lease lets one replica log in
while the others wait for its token to appear (lock, re-read, re-check, log in, release). A
background task refreshes ahead of expiry, at 75-80% of the lifetime (jittered), so no caller waits.
A stale token is dropped with compare-and-delete: only the token that failed, never a newer one.

Logins are damped, because each costs a password login of the one shared account:

* When OMA rejects the gateway's own login, logins back off exponentially (capped), through the
  store, so the whole fleet makes one attempt per step (each process on its own while the store
  is down), and a wrong password does not hammer the account into a lockout.
* A stale-token report (`invalidate`) logs in at most once per window per upstream and process;
  when the fresh token draws `error_number 1` as well, that answer is not about the token's age,
  so the window doubles (up to `INVALIDATE_CAP`) instead of logging in again; it starts over once
  a token other than such a fresh one is reported.

The refresher outlives every error it meets: it logs it, counts it, and tries again later.
"""

from __future__ import annotations

import asyncio
import collections
import random
import time
from collections.abc import Callable

import structlog

from . import tracing
from .errors import UpstreamAuthFailed, UpstreamError, UpstreamUnavailable
from .inflight import InFlightGate
from .login import LoginRejected, password_login
from .secrets import Secret
from .store import SessionStore, StoredToken
from .upstream import OmaClient

__all__ = ["SessionCustody"]

log = structlog.get_logger(__name__)

BACKOFF_FIRST, BACKOFF_CAP = 1.0, 300.0  # seconds, after OMA rejected the gateway's login
INVALIDATE_FIRST, INVALIDATE_CAP = 10.0, 300.0  # seconds between logins for stale tokens
POLL_FIRST, POLL_CAP = 0.02, 0.25  # seconds, while another replica holds the login lease


class SessionCustody:
    def __init__(
        self,
        client: OmaClient,
        sessions: SessionStore,
        *,
        clock: Callable[[], float] = time.time,
        changed: bool = False,
    ) -> None:
        self.client = client
        self.name = client.settings.name
        self._sessions = sessions
        self._clock = clock
        self._local: StoredToken | None = None
        self._flight: asyncio.Task[StoredToken] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._blocked_until = 0.0  # this process's copy of the store's login back-off
        self._window = INVALIDATE_FIRST
        self._last_invalidation = float("-inf")
        self._replacement: Secret | None = None  # the token the last invalidation brought
        self._refused_fresh: Secret | None = None  # ... when OMA refused that one as well
        #: One caller's calls in flight to this upstream (`max_in_flight_per_caller`).
        self.gate = InFlightGate(client.settings.in_flight_per_caller)
        self.logins = 0  # authenticate calls made by this process
        self.damped = 0  # stale-token reports that did not cost a login
        self.refresher_errors = 0  # unexpected errors the refresher survived
        self.backed_off = 0  # logins not tried: this process or the fleet was backing off
        # A reload's changed upstream (a fixed password) is tried once at once: the fleet's
        # back-off was earned by the settings it replaces. A rejection backs the fleet off again.
        self._try_changed = changed
        self.last_login_ok: float | None = None
        # For metrics: logins by result ("ok", "rejected", "error"), and calls awaiting a login.
        self.login_results: collections.Counter[str] = collections.Counter()
        self.waiting = 0
        self.waits = 0
        # The last few tokens held, so log redaction still knows one just replaced.
        self._held: collections.deque[Secret] = collections.deque(maxlen=3)

    @property
    def lifetime(self) -> float:
        return self.client.settings.token_lifetime

    @property
    def margin(self) -> float:
        """A token is not handed out this close to its end: a call must have time to land."""
        return min(60.0, self.lifetime * 0.05)

    async def current(self) -> StoredToken:
        token = self._local
        if token is not None and token.usable(self._clock() + self.margin):
            return token
        return await self._single_flight(stale=None, fresh=False)

    async def invalidate(self, token: StoredToken) -> StoredToken | None:
        """OMA refused `token`: drop it (only if still current) and get the next one. None when
        damping allows no login now: OMA's answer then stands as it came."""
        held = self._local
        if held is not None and held.token != token.token and self._fresh_enough(held):
            return held  # another call already replaced it
        self._judge(token.token)
        if self._damped():
            self.damped += 1
            log.info("oma_token_invalidation_damped", upstream=self.name, window=self._window)
            adopted = await self._adoptable(token.token, fresh=False)  # a replica's newer one
            self._local = adopted or self._local
            return adopted
        self._last_invalidation = self._clock()
        if self._local is not None and self._local.token == token.token:
            self._local = None
        await self._sessions.discard(self.name, token.token)
        replacement = await self._single_flight(stale=token.token, fresh=False)
        self._replacement = replacement.token
        return replacement

    def _fresh_enough(self, token: StoredToken) -> bool:
        return token.usable(self._clock() + self.margin)

    def _judge(self, refused: Secret) -> None:
        """Widen the window when a token fresh from an invalidation is refused too (once per
        such token); narrow it again when an ordinary token is reported."""
        if refused != self._replacement:
            self._window = INVALIDATE_FIRST
        elif refused != self._refused_fresh:
            self._refused_fresh = refused
            self._window = min(INVALIDATE_CAP, self._window * 2)

    def _damped(self) -> bool:
        if self._flight is not None and not self._flight.done():
            return False  # a login is under way anyway: wait for its token
        return self._clock() - self._last_invalidation < self._window

    def start(self) -> None:
        """Begin proactive refresh; owned by this object and cancelled by `close`."""
        if self._refresher is None:
            self._refresher = asyncio.create_task(
                self._refresh_ahead(), name=f"refresh:{self.name}"
            )

    async def close(self) -> None:
        for task in (self._refresher, self._flight):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.client.close()

    def has_usable_token(self) -> bool:
        return self._local is not None and self._local.usable(self._clock())

    def login_answered(self) -> bool:
        """Whether a login of this process has had its answer: OMA's, or the back-off's (the
        fleet's last login was rejected, so this one was not tried)."""
        return sum(self.login_results.values()) > 0 or self.backed_off > 0

    def token_age(self) -> float | None:
        return None if self._local is None else self._clock() - self._local.issued_at

    def token_expires_in(self) -> float | None:
        return None if self._local is None else self._local.expires_at - self._clock()

    def known_tokens(self) -> tuple[Secret, ...]:
        return tuple(self._held)

    async def _single_flight(self, stale: Secret | None, fresh: bool) -> StoredToken:
        flight = self._flight
        if flight is None or flight.done():
            obtain = self._obtain(stale, fresh)
            flight = self._flight = asyncio.create_task(obtain, name=f"login:{self.name}")
        # Shielded: a caller that hangs up must not cancel the login every other caller awaits.
        self.waiting += 1
        self.waits += 1
        try:
            return await asyncio.shield(flight)
        finally:
            self.waiting -= 1

    async def _obtain(self, stale: Secret | None, fresh: bool) -> StoredToken:
        deadline = self._clock() + self.client.settings.timeout * 2 + 5
        poll = POLL_FIRST
        while True:
            token = await self._adoptable(stale, fresh)
            if token is None:
                token = await self._login_under_lease(stale, fresh)
            if token is not None:
                self._local = token
                if token.token not in self._held:
                    self._held.append(token.token)
                return token
            if self._clock() > deadline:
                raise UpstreamUnavailable("timed out waiting for another replica's OMA login")
            await asyncio.sleep(poll)
            poll = min(poll * 2, POLL_CAP)

    async def _adoptable(self, stale: Secret | None, fresh: bool) -> StoredToken | None:
        """The shared token, if we may use it: usable, not the one that just failed, and (for a
        proactive refresh) not itself due for refresh."""
        token = await self._sessions.load(self.name)
        now = self._clock()
        if token is None or token.token == stale or not token.usable(now + self.margin):
            return None
        return None if fresh and token.refresh_at <= now else token

    async def _login_under_lease(self, stale: Secret | None, fresh: bool) -> StoredToken | None:
        lease = await self._sessions.acquire_lease(self.name, ttl=self.client.settings.timeout + 5)
        if lease is None:
            return None
        try:
            token = await self._adoptable(stale, fresh)  # re-check: the last holder may have won
            if token is None:
                token = await self._login()
                await self._sessions.save(self.name, token)
            return token
        finally:
            await self._sessions.release_lease(self.name, lease)

    async def _login(self) -> StoredToken:
        await self._check_backoff()
        self.logins += 1
        try:
            with tracing.span("oma_gateway.login", upstream=self.name):
                token = await password_login(self.client, self._clock)
        except LoginRejected:
            self.login_results["rejected"] += 1
            backoff = await self._sessions.login_rejected(self.name, BACKOFF_FIRST, BACKOFF_CAP)
            self._blocked_until = self._clock() + backoff
            log.warning("oma_login_rejected", upstream=self.name, backoff=backoff)
            raise
        except UpstreamError as exc:
            self.login_results["error"] += 1
            log.warning("oma_login_failed", upstream=self.name, cause=exc.cause)
            raise
        self.login_results["ok"] += 1
        self.last_login_ok = self._clock()
        await self._sessions.login_succeeded(self.name)
        return token

    async def _check_backoff(self) -> None:
        """Refuse a password login while this process or the fleet backs off from a rejection."""
        if self._clock() < self._blocked_until:
            self.backed_off += 1
            raise UpstreamAuthFailed()
        if self._try_changed:
            self._try_changed = False
            return
        left = await self._sessions.login_blocked(self.name)
        if left > 0:
            self._blocked_until = self._clock() + left
            self.backed_off += 1
            raise UpstreamAuthFailed()

    async def _refresh_ahead(self) -> None:
        """Log in at start (so the first caller does not wait and readiness can tell), then
        refresh each token ahead of its end."""
        while True:
            try:
                if self._local is None:
                    await self._single_flight(stale=None, fresh=False)
                    continue
                await asyncio.sleep(self._until_refresh(self._local))
                if self._local is not None and self._local.refresh_at <= self._clock():
                    await self._single_flight(stale=None, fresh=True)
            except UpstreamError as exc:
                log.warning("oma_token_refresh_failed", upstream=self.name, error=exc.code,
                            cause=exc.cause)  # fmt: skip
                await asyncio.sleep(self._retry_pause())
            except Exception as exc:  # the refresher must outlive anything it meets
                self.refresher_errors += 1
                log.error("oma_token_refresher_error", upstream=self.name,
                          error=type(exc).__name__, exc_info=True)  # fmt: skip
                await asyncio.sleep(self._retry_pause())

    def _retry_pause(self) -> float:
        return max(1.0, min(30.0, self.lifetime * 0.01))

    def _until_refresh(self, token: StoredToken) -> float:
        # Each replica wakes a little after the shared refresh time, at its own moment, so the
        # first one awake usually has the next token saved before the others look.
        spread = min(30.0, self.lifetime * 0.02)
        jitter = random.uniform(0, spread)  # noqa: S311 (jitter, not a secret)
        return max(0.0, token.refresh_at - self._clock()) + jitter
