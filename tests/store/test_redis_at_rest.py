"""What the Redis backend leaves in Redis: encrypted tokens, tagged keys, bounded lifetimes,
scripts that survive a flushed script cache, and one limit shared by several replicas."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from gateway.secrets import Secret
from gateway.settings import RateSpec
from gateway.store import LimitRule, StoredToken

from .conftest import OpenStore, new_key

RAW = "raw-session-token-0123456789abcdef"


_BEGAN = [time.time()]


@pytest.fixture(autouse=True)
def _this_test_began() -> None:
    """Tokens are made relative to this test's start, not the module's import: a long suite
    run (13 min) had outlived their 600 s lifetime before the tests ran."""
    _BEGAN[0] = time.time()


def stored(value: str = RAW, lifetime: float = 600.0) -> StoredToken:
    began = _BEGAN[0]
    return StoredToken(Secret(value), began, began + lifetime, began + lifetime * 0.75)


def as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


async def all_values(client: Redis) -> list[bytes | str]:
    values: list[bytes | str] = []
    async for key in client.scan_iter():
        kind = await client.type(key)
        if kind == b"hash":
            values += [*(await client.hgetall(key)).values()]
        elif kind == b"string":
            values.append(await client.get(key) or b"")
    return values


async def test_the_raw_token_is_never_written_to_redis(
    open_redis_store: OpenStore, raw_redis: Redis
) -> None:
    store = open_redis_store()
    await store.sessions.save("oma", stored())
    await store.sessions.acquire_lease("oma", 5.0)
    values = await all_values(raw_redis)
    assert values and not any(RAW.encode() in as_bytes(value) for value in values)
    assert (await store.sessions.load("oma")) == stored()


async def test_session_keys_carry_the_upstream_hash_tag(
    open_redis_store: OpenStore, raw_redis: Redis
) -> None:
    store = open_redis_store()
    await store.sessions.save("oma", stored())
    await store.sessions.acquire_lease("oma", 5.0)
    keys = sorted([key async for key in raw_redis.scan_iter()])
    assert keys == [b"oma-gw:{oma}:session", b"oma-gw:{oma}:session:lease"]


async def test_a_token_expires_from_redis_when_oma_stops_honouring_it(
    open_redis_store: OpenStore, raw_redis: Redis
) -> None:
    store = open_redis_store()
    token = stored(lifetime=600.0)
    await store.sessions.save("oma", token)
    expire_at_ms = await raw_redis.pexpiretime("oma-gw:{oma}:session")
    assert abs(expire_at_ms - token.expires_at * 1000) <= 1


async def test_a_rotated_key_still_reads_what_the_previous_key_wrote(
    open_redis_store: OpenStore,
) -> None:
    old, new = new_key(), new_key()
    before = open_redis_store(encryption_key=old)
    during = open_redis_store(encryption_key=new, previous_encryption_keys=(old,))
    after = open_redis_store(encryption_key=new)
    await before.sessions.save("oma", stored())
    assert await during.sessions.load("oma") == stored()
    assert await after.sessions.load("oma") is None  # the old key retired: as if absent
    await during.sessions.save("oma", stored("next"))
    assert await after.sessions.load("oma") == stored("next")


async def test_a_blob_copied_under_another_upstream_does_not_decrypt(
    open_redis_store: OpenStore, raw_redis: Redis
) -> None:
    store = open_redis_store()
    await store.sessions.save("oma", stored())
    fields = await raw_redis.hgetall("oma-gw:{oma}:session")
    await raw_redis.hset("oma-gw:{other}:session", mapping=dict(fields.items()))
    assert await store.sessions.load("other") is None


async def test_limit_keys_live_only_until_their_tat_is_past(
    open_redis_store: OpenStore, raw_redis: Redis
) -> None:
    store = open_redis_store()
    await store.limiter.check([LimitRule("caller", "{oma}:caller:a", RateSpec(2.0, 4))])
    assert 0 < await raw_redis.pttl("oma-gw:{oma}:caller:a") <= 500


async def test_two_replicas_share_one_limit(open_redis_store: OpenStore, raw_redis: Redis) -> None:
    replicas = [open_redis_store() for _ in range(2)]
    rules = [LimitRule("caller", "{oma}:caller:a", RateSpec(0.1, 4))]
    answers = [await replicas[i % 2].limiter.check(rules) for i in range(8)]
    assert sum(d.allowed for d in answers) == 4


async def test_scripts_are_reloaded_after_the_script_cache_is_flushed(
    open_redis_store: OpenStore, raw_redis: Redis
) -> None:
    store = open_redis_store()
    rules = [LimitRule("caller", "{oma}:caller:a", RateSpec(1.0, 2))]
    assert (await store.limiter.check(rules)).allowed
    await raw_redis.script_flush()
    assert (await store.limiter.check(rules)).states[0].remaining == 0
    assert store.healthy and dict(store.errors) == {}


async def test_concurrent_checks_survive_a_flushed_script_cache(
    open_redis_store: OpenStore, raw_redis: Redis
) -> None:
    store = open_redis_store()
    rules = [LimitRule("caller", "{oma}:caller:a", RateSpec(0.1, 10))]
    await store.limiter.check(rules)
    await raw_redis.script_flush()
    answers = await asyncio.gather(*(store.limiter.check(rules) for _ in range(20)))
    assert sum(d.allowed for d in answers) == 9
    assert not any(d.degraded for d in answers)
