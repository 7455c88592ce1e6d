"""The SessionStore contract, run against memory:// and a real Redis alike."""

from __future__ import annotations

import asyncio
import time

from gateway.secrets import Secret
from gateway.store import Store, StoredToken
from gateway.store.memory import MemorySessions
from gateway.store.redis_store import RedisLease


def token(value: str = "tok-1", lifetime: float = 3600.0) -> StoredToken:
    now = time.time()
    return StoredToken(Secret(value), now, now + lifetime, now + lifetime * 0.75)


async def test_a_saved_token_loads_back_whole(store: Store) -> None:
    saved = token()
    await store.sessions.save("oma", saved)
    assert await store.sessions.load("oma") == saved
    assert await store.sessions.load("other") is None


async def test_discard_drops_only_the_token_that_failed(store: Store) -> None:
    current = token("current")
    await store.sessions.save("oma", current)
    assert not await store.sessions.discard("oma", Secret("an-older-one"))
    assert await store.sessions.load("oma") == current
    assert await store.sessions.discard("oma", Secret("current"))
    assert await store.sessions.load("oma") is None
    assert not await store.sessions.discard("oma", Secret("current"))


async def test_a_lease_is_held_by_one_until_released(store: Store) -> None:
    first = await store.sessions.acquire_lease("oma", ttl=5.0)
    assert first is not None
    assert await store.sessions.acquire_lease("oma", ttl=5.0) is None
    assert await store.sessions.acquire_lease("other", ttl=5.0) is not None
    await store.sessions.release_lease("oma", first)
    assert await store.sessions.acquire_lease("oma", ttl=5.0) is not None


async def test_an_expired_lease_released_late_does_not_free_the_next_holder(store: Store) -> None:
    stale = await store.sessions.acquire_lease("oma", ttl=0.05)
    await asyncio.sleep(0.1)
    holder = await store.sessions.acquire_lease("oma", ttl=5.0)
    assert stale is not None and holder is not None
    await store.sessions.release_lease("oma", stale)
    assert await store.sessions.acquire_lease("oma", ttl=5.0) is None


async def test_concurrent_lease_requests_have_exactly_one_winner(store: Store) -> None:
    leases = await asyncio.gather(*(store.sessions.acquire_lease("oma", 5.0) for _ in range(20)))
    winners = [lease for lease in leases if lease is not None]
    shared = [lease for lease in winners if isinstance(lease, RedisLease)]
    # A Redis call that outlasts store.timeout (a loaded machine) falls back, by design, to the
    # process's own lease: one winner in each place a lease is kept, never two in either.
    assert len(shared) <= 1 and len(winners) - len(shared) <= 1 and winners
    if not isinstance(store.sessions, MemorySessions) and not shared:
        assert store.sessions.fallbacks["lease"] > 0  # type: ignore[attr-defined]


async def test_the_store_reports_itself_healthy(store: Store) -> None:
    assert await store.ping()
    assert store.healthy and store.breaker_state == "closed"
    assert dict(store.errors) == {} and dict(store.fallbacks) == {}
