"""Three gateway processes on one real Redis behave as one gateway: one OMA login for the fleet,
one rate limit across replicas, the raw token never in Redis, and a Redis outage that slows
nothing and loses nothing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import redis.asyncio

from ..store.outage import RedisProcess
from .fleet import Replica, call, gateway_config, gateway_fleet, sandbox_requests


async def test_150_concurrent_first_calls_over_three_replicas_make_one_login(
    sandbox: str, redis_process: RedisProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    config = gateway_config(sandbox, redis_process.url)
    with gateway_fleet(config, tmp_path) as replicas:
        answers = await asyncio.gather(*(call(http, replicas[i % 3]) for i in range(150)))
        assert [status for status, _ in answers] == [200] * 150
        seen = await sandbox_requests(http, sandbox)
    assert seen["authenticate_count"] == 1
    tokens = {r["token"] for r in seen["requests"] if r["token"]}
    assert len(tokens) == 1


async def test_the_raw_session_token_never_appears_in_any_redis_value(
    sandbox: str, redis_process: RedisProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    config = gateway_config(sandbox, redis_process.url)
    with gateway_fleet(config, tmp_path) as replicas:
        for replica in replicas:
            assert (await call(http, replica))[0] == 200
            assert (await call(http, replica, "readonly"))[0] == 200
        seen = await sandbox_requests(http, sandbox)
        tokens = {r["token"].encode() for r in seen["requests"] if r["token"]}
        client = redis.asyncio.Redis.from_url(redis_process.url)
        keys = [key async for key in client.scan_iter()]
        values = [await client.dump(key) or b"" for key in keys]
        await client.aclose()
    assert tokens and len(keys) >= 2  # the session and the readonly caller's limit at least
    assert not any(token in value for token in tokens for value in values)


async def test_a_caller_limit_holds_across_replicas(
    sandbox: str, redis_process: RedisProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    config = gateway_config(sandbox, redis_process.url)  # readonly: 5/s, burst 10
    with gateway_fleet(config, tmp_path) as replicas:
        await asyncio.gather(*(call(http, r) for r in replicas))  # every replica has its token
        started, statuses = time.monotonic(), []
        for i in range(90):
            statuses.append((await call(http, replicas[i % 3], "readonly"))[0])
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - started
    admitted = statuses.count(200)
    assert set(statuses) == {200, 429}
    assert 10 <= admitted <= 10 + 5 * elapsed + 1


async def test_a_redis_outage_mid_load_hangs_nothing_loses_nothing_and_heals(
    sandbox: str, redis_process: RedisProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    config = gateway_config(sandbox, redis_process.url)
    with gateway_fleet(config, tmp_path) as replicas:
        await asyncio.gather(*(call(http, r) for r in replicas))
        load = asyncio.create_task(_steady_load(http, replicas, seconds=3.0))
        await asyncio.sleep(0.8)
        await asyncio.to_thread(redis_process.kill)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(redis_process.start)  # same port, empty
        timings = await load
        await asyncio.sleep(1.2)  # the breakers' cooldown: the next call probes and heals
        after = [await call(http, replicas[i % 3], "readonly") for i in range(15)]
        client = redis.asyncio.Redis.from_url(redis_process.url)
        limit_keys = [key async for key in client.scan_iter("oma-gw:{oma}:caller:*")]
        await client.aclose()
    assert len(timings) > 100 and all(status == 200 for status, _ in timings)
    assert max(seconds for _, seconds in timings) < 1.0
    assert [status for status, _ in after].count(429) >= 4  # burst 10 of 15, from Redis again
    assert limit_keys == [b"oma-gw:{oma}:caller:readonly"]


async def _steady_load(
    http: aiohttp.ClientSession, replicas: list[Replica], seconds: float
) -> list[tuple[int, float]]:
    """Ten callers in a loop for `seconds`: each call's status and duration."""
    deadline, timings = time.monotonic() + seconds, []

    async def worker(n: int) -> None:
        while time.monotonic() < deadline:
            started = time.monotonic()
            status, _ = await call(http, replicas[n % 3])
            timings.append((status, time.monotonic() - started))

    await asyncio.gather(*(worker(n) for n in range(10)))
    return timings
