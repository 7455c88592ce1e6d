"""Distrusting the store: garbage written into a real redis-server is treated as absent, times
edited in Redis fail authentication, a lease without a TTL is repaired, limiter keys of the wrong
shape do not break limiting, and the refresher outlives any error it meets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from gateway.custody import SessionCustody
from gateway.sandbox import Sandbox
from gateway.secrets import Secret
from gateway.settings import RateSpec
from gateway.store import LimitRule, Store, StoredToken
from gateway.upstream import OmaClient, open_session

from ..support import FailingFirst, upstream
from .conftest import OpenStore, new_key

SESSION = "oma-gw:{oma}:session"
LEASE = "oma-gw:{oma}:session:lease"
_BEGAN = [time.time()]


@pytest.fixture(autouse=True)
def _this_test_began() -> None:
    """Tokens are made relative to this test's start, not the module's import: a long suite
    run (13 min) had outlived their 600 s lifetime before the tests ran."""
    _BEGAN[0] = time.time()


def stored(lifetime: float = 600.0) -> StoredToken:
    began = _BEGAN[0]
    return StoredToken(Secret("tok-" + "x" * 20), began, began + lifetime, began + lifetime * 0.75)


@pytest.fixture
async def replica(open_redis_store: OpenStore, raw_redis: Redis) -> Store:
    return open_redis_store()


@pytest.mark.parametrize(
    ("field", "value"),
    [("expires_at", b"soon"), ("issued_at", b""), ("refresh_at", b"nan"), ("blob", b"short")],
)
async def test_unparsable_session_fields_read_as_absent(
    replica: Store, raw_redis: Redis, field: str, value: bytes
) -> None:
    await replica.sessions.save("oma", stored())
    await raw_redis.hset(SESSION, field, value)
    with capture_logs() as logs:
        assert await replica.sessions.load("oma") is None
    assert [e["reason"] for e in logs if e["event"] == "store_session_unusable"] == ["unreadable"]
    assert replica.healthy and dict(replica.errors) == {}


async def test_an_expiry_stretched_in_redis_fails_authentication(
    replica: Store, raw_redis: Redis
) -> None:
    token = stored(lifetime=60.0)
    await replica.sessions.save("oma", token)
    await raw_redis.hset(SESSION, "expires_at", repr(token.expires_at + 86400))
    assert await replica.sessions.load("oma") is None


async def test_a_session_key_of_another_type_reads_as_absent_and_is_overwritten(
    replica: Store, raw_redis: Redis
) -> None:
    await raw_redis.set(SESSION, "not a hash")
    assert await replica.sessions.load("oma") is None
    assert not await replica.sessions.discard("oma", Secret("anything"))
    await replica.sessions.save("oma", stored())
    assert await replica.sessions.load("oma") == stored()
    assert replica.healthy and dict(replica.errors) == {}


@pytest.fixture
async def custodies(
    oma_url: str, open_redis_store: OpenStore, raw_redis: Redis
) -> AsyncIterator[list[SessionCustody]]:
    """Two replicas' custodies on one Redis and one store key."""
    settings = upstream(oma_url, timeout=1.0)
    key = new_key()
    held = [
        SessionCustody(
            OmaClient(settings, open_session(settings)),
            open_redis_store(encryption_key=key).sessions,
        )
        for _ in range(2)
    ]
    yield held
    for custody in held:
        await custody.close()


@pytest.fixture
def custody(custodies: list[SessionCustody]) -> SessionCustody:
    return custodies[0]


async def test_a_non_numeric_expires_at_costs_one_login_not_a_500(
    custodies: list[SessionCustody], raw_redis: Redis, oma: Sandbox
) -> None:
    await custodies[0].current()  # a valid token saved by one replica...
    await raw_redis.hset(SESSION, "expires_at", b"never")  # ...then spoiled in Redis
    token = await custodies[1].current()  # another replica reads it: absent, so it logs in
    assert token.token.reveal() and oma.authenticate_count == 2
    assert await raw_redis.hget(SESSION, "expires_at") != b"never"  # overwritten by the save


@pytest.mark.parametrize("kind", ["string", "hash"])
async def test_a_lease_without_a_ttl_is_repaired_and_the_login_goes_ahead(
    custody: SessionCustody, raw_redis: Redis, oma: Sandbox, kind: str
) -> None:
    if kind == "string":
        await raw_redis.set(LEASE, "left-behind")  # no TTL: before the repair, it blocked forever
    else:
        await raw_redis.hset(LEASE, "odd", "shape")
    started = time.monotonic()
    with capture_logs() as logs:
        token = await asyncio.wait_for(custody.current(), 3.0)
    assert token.token.reveal() and oma.authenticate_count == 1
    assert time.monotonic() - started < 1.0
    assert [e["event"] for e in logs].count("store_lease_repaired") == 1
    assert await raw_redis.exists(LEASE) == 0  # released after the login, as any lease


async def test_a_lease_held_by_a_replica_is_not_taken_over(
    replica: Store, raw_redis: Redis
) -> None:
    lease = await replica.sessions.acquire_lease("oma", 5.0)
    assert lease is not None
    assert await replica.sessions.acquire_lease("oma", 5.0) is None


@pytest.mark.parametrize("garbage", ["string", "hash", "far_future"])
async def test_limit_keys_of_the_wrong_shape_do_not_break_limiting(
    replica: Store, raw_redis: Redis, garbage: str
) -> None:
    key = "oma-gw:{oma}:caller:a"
    if garbage == "string":
        await raw_redis.set(key, "not-a-number")
    elif garbage == "hash":
        await raw_redis.hset(key, "tat", "1")
    else:
        await raw_redis.set(key, "99999999999")  # a TAT no GCRA could reach
    rate = 1000.0 if garbage == "far_future" else 0.1  # fast: the cut TAT passes within ms
    rules = [LimitRule("caller", "{oma}:caller:a", RateSpec(rate, 4))]
    decisions = [await replica.limiter.check(rules) for _ in range(6)]
    assert not any(d.degraded for d in decisions) and replica.healthy
    if garbage == "far_future":  # read as exhausted: the limit recovers, never grants more
        await asyncio.sleep(0.01)
        assert (await replica.limiter.check(rules)).allowed
    else:
        assert sum(d.allowed for d in decisions) == 4
    assert await raw_redis.pttl(key) != -1  # rewritten with a TTL (or expired since): never stuck


async def test_the_refresher_survives_an_unexpected_error_and_says_so(oma_url: str) -> None:
    settings = upstream(oma_url, token_lifetime=60.0)
    custody = SessionCustody(OmaClient(settings, open_session(settings)), FailingFirst(1))
    try:
        with capture_logs() as logs:
            custody.start()
            for _ in range(60):
                if custody.has_usable_token():
                    break
                await asyncio.sleep(0.05)
        assert custody.has_usable_token()  # the retry after the pause logged in
        assert custody.refresher_errors == 1
        errors = [e for e in logs if e["event"] == "oma_token_refresher_error"]
        assert errors and errors[0]["error"] == "RuntimeError"
    finally:
        await custody.close()
