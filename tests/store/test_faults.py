"""Store faults against a real redis-server that is killed, frozen and restarted: the breaker
bounds what an outage costs, limiting follows `on_error`, custody falls back to this process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from gateway.errors import StoreUnavailable
from gateway.secrets import Secret
from gateway.settings import RateSpec
from gateway.store import LimitRule, StoredToken
from gateway.store.breaker import COOLDOWN, FAILURES

from .conftest import OpenStore
from .outage import RedisProcess

RULES = [LimitRule("caller", "{oma}:caller:a", RateSpec(0.1, 2))]


@pytest.fixture
def doomed() -> Iterator[RedisProcess]:
    redis = RedisProcess()
    redis.start()
    yield redis
    redis.kill()


async def test_fail_open_limits_on_a_local_budget_while_redis_is_down(
    doomed: RedisProcess, open_redis_store: OpenStore
) -> None:
    store = open_redis_store(doomed.url)
    doomed.kill()
    answers = [await store.limiter.check(RULES) for _ in range(3)]
    assert all(d.degraded for d in answers)
    assert [d.allowed for d in answers] == [True, True, False]
    assert store.fallbacks["limit"] == 3


async def test_fail_open_without_local_fallback_admits_every_call(
    doomed: RedisProcess, open_redis_store: OpenStore
) -> None:
    store = open_redis_store(doomed.url, local_fallback=False)
    doomed.kill()
    answers = [await store.limiter.check(RULES) for _ in range(5)]
    assert all(d.allowed and d.degraded for d in answers)


async def test_fail_closed_refuses_calls_with_store_unavailable(
    doomed: RedisProcess, open_redis_store: OpenStore
) -> None:
    store = open_redis_store(doomed.url, on_error="fail_closed")
    assert (await store.limiter.check(RULES)).allowed
    doomed.kill()
    with pytest.raises(StoreUnavailable):
        await store.limiter.check(RULES)


async def test_a_hung_redis_costs_a_call_no_more_than_the_store_timeout(
    doomed: RedisProcess, open_redis_store: OpenStore
) -> None:
    store = open_redis_store(doomed.url, timeout=0.1)
    assert (await store.limiter.check(RULES)).allowed  # the pool holds a live connection now
    doomed.freeze()
    started = time.perf_counter()
    decision = await store.limiter.check(RULES)
    assert decision.degraded
    # Bounded by the store timeout, not by redis-py's default of waiting forever: the generous
    # margin is for a loaded CI machine; a hang would never return at all.
    assert time.perf_counter() - started < 0.1 + 1.0


async def test_after_a_few_failures_the_breaker_fails_fast_without_the_network(
    doomed: RedisProcess, open_redis_store: OpenStore
) -> None:
    store = open_redis_store(doomed.url, timeout=0.1)
    await store.limiter.check(RULES)
    doomed.freeze()
    for _ in range(FAILURES):
        await store.limiter.check(RULES)
    assert store.breaker_state == "open" and not store.healthy
    fallbacks_before = store.fallbacks["limit"]
    answers = await asyncio.gather(*(store.limiter.check(RULES) for _ in range(200)))
    assert all(d.degraded for d in answers)
    # No call went near the frozen server: each would have timed out and counted an error.
    assert store.errors["limit"] == FAILURES
    assert store.fallbacks["limit"] == fallbacks_before + 200


async def test_the_store_recovers_without_restart_and_logs_each_transition_once(
    doomed: RedisProcess, open_redis_store: OpenStore
) -> None:
    store = open_redis_store(doomed.url)
    with capture_logs() as logs:
        doomed.kill()
        for _ in range(20):
            assert (await store.limiter.check(RULES)).degraded
        await asyncio.to_thread(doomed.start)
        await asyncio.sleep(COOLDOWN)
        decision = await store.limiter.check(RULES)
        await store.limiter.check(RULES)
    assert not decision.degraded and store.healthy and store.breaker_state == "closed"
    events = [e["event"] for e in logs if e["event"].startswith("store_")]
    assert events == ["store_degraded", "store_recovered"]


async def test_a_failed_probe_keeps_the_breaker_open(
    doomed: RedisProcess, open_redis_store: OpenStore
) -> None:
    store = open_redis_store(doomed.url)
    doomed.kill()
    for _ in range(FAILURES):
        await store.limiter.check(RULES)
    await asyncio.sleep(COOLDOWN)
    assert (await store.limiter.check(RULES)).degraded  # the probe, refused by a dead server
    assert store.breaker_state == "open"
    assert store.errors["limit"] == FAILURES + 1


async def test_custody_state_falls_back_to_this_process_while_redis_is_down(
    doomed: RedisProcess, open_redis_store: OpenStore
) -> None:
    store = open_redis_store(doomed.url)
    now = time.time()
    token = StoredToken(Secret("tok"), now, now + 600, now + 450)
    await store.sessions.save("oma", token)
    doomed.kill()
    assert await store.sessions.load("oma") == token  # the copy kept when it was saved
    lease = await store.sessions.acquire_lease("oma", 5.0)
    assert lease is not None
    assert await store.sessions.acquire_lease("oma", 5.0) is None
    await store.sessions.release_lease("oma", lease)
    assert await store.sessions.discard("oma", Secret("tok"))
    assert await store.sessions.load("oma") is None
    assert store.fallbacks["load"] == 2 and store.fallbacks["lease"] == 2


async def test_ping_answers_false_rather_than_raising_while_redis_is_down(
    doomed: RedisProcess, open_redis_store: OpenStore
) -> None:
    store = open_redis_store(doomed.url)
    assert await store.ping()
    doomed.kill()
    assert not await store.ping()


async def test_a_check_after_a_redis_restart_reaches_the_new_server_not_the_fallback(
    doomed: RedisProcess, open_redis_store: OpenStore
) -> None:
    """The pooled connection died with the old server: the lean round trip sends again on a
    fresh one (as redis-py's retry does) rather than failing the call to the local budget."""
    store = open_redis_store(doomed.url)
    assert not (await store.limiter.check(RULES)).degraded  # a pooled connection now
    doomed.kill()
    await asyncio.to_thread(doomed.start)  # same port, empty

    decision = await store.limiter.check(RULES)

    assert not decision.degraded
    assert store.errors["limit"] == 0 and store.fallbacks["limit"] == 0
