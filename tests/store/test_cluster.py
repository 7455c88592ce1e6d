"""The store on a real 3-master Redis Cluster (`redis+cluster://`): every script runs on one slot
because every key of an upstream carries its hash tag, and upstreams spread over the masters."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio.cluster import RedisCluster

from gateway.limits import CallerLimits
from gateway.secrets import Secret
from gateway.settings import RateSpec
from gateway.store import StoredToken
from gateway.store.resilient import ResilientStore

from ..support import caller, upstream
from .cluster import redis_cluster
from .conftest import OpenStore

UPSTREAMS = [f"up{i}" for i in range(12)]


@pytest.fixture(scope="module")
def cluster_url() -> Iterator[str]:
    with redis_cluster() as url:
        yield url


@pytest.fixture
async def raw_cluster(cluster_url: str) -> AsyncIterator[RedisCluster]:
    client = RedisCluster.from_url(cluster_url.replace("+cluster", ""))
    await client.flushall(target_nodes=RedisCluster.PRIMARIES)
    yield client
    await client.aclose()


def limits_for(name: str) -> CallerLimits:
    spec = RateSpec(0.1, 2)
    return CallerLimits(
        caller("billing", upstream=name, rate_limit=spec, method_limits={"get_user": spec}),
        upstream("http://oma.invalid/api", name=name, rate_limit=RateSpec(0.1, 5)),
    )


async def test_all_limits_of_a_call_are_checked_in_one_script_on_the_cluster(
    open_redis_store: OpenStore, raw_cluster: RedisCluster, cluster_url: str
) -> None:
    store = open_redis_store(cluster_url, timeout=2.0)  # a loaded machine: no spurious trips
    for name in UPSTREAMS:
        rules = limits_for(name).rules("get_user")
        assert len(rules) == 3
        answers = [await store.limiter.check(rules) for _ in range(3)]
        assert [d.allowed for d in answers] == [True, True, False]
        assert not any(d.degraded for d in answers)
    assert store.healthy and dict(store.errors) == {}


async def test_an_upstreams_keys_share_a_slot_and_upstreams_spread_over_masters(
    open_redis_store: OpenStore, raw_cluster: RedisCluster, cluster_url: str
) -> None:
    store = open_redis_store(cluster_url, timeout=2.0)  # a loaded machine: no spurious trips
    now = time.time()
    for name in UPSTREAMS:
        await store.limiter.check(limits_for(name).rules("get_user"))
        await store.sessions.save(name, StoredToken(Secret("t"), now, now + 60, now + 45))
        await store.sessions.acquire_lease(name, 5.0)
    keys = [key async for key in raw_cluster.scan_iter()]
    assert len(keys) == len(UPSTREAMS) * 5
    slots = {
        name: {raw_cluster.keyslot(k) for k in keys if b"{%s}" % name.encode() in k}
        for name in UPSTREAMS
    }
    assert all(len(s) == 1 for s in slots.values())
    masters = {raw_cluster.get_node_from_key(k).name for k in keys}  # type: ignore[union-attr]
    assert len(masters) == 3


async def test_session_custody_state_works_on_the_cluster(
    open_redis_store: OpenStore, raw_cluster: RedisCluster, cluster_url: str
) -> None:
    store = open_redis_store(cluster_url, timeout=2.0)  # a loaded machine: no spurious trips
    assert isinstance(store, ResilientStore)
    assert isinstance(store.redis.client, RedisCluster)
    now = time.time()
    token = StoredToken(Secret("tok"), now, now + 60, now + 45)
    for name in UPSTREAMS:
        await store.sessions.save(name, token)
        assert await store.sessions.load(name) == token
        assert not await store.sessions.discard(name, Secret("other"))
        assert await store.sessions.discard(name, Secret("tok"))
        lease = await store.sessions.acquire_lease(name, 5.0)
        assert lease is not None and await store.sessions.acquire_lease(name, 5.0) is None
        await store.sessions.release_lease(name, lease)
        assert await store.sessions.acquire_lease(name, 5.0) is not None
    assert await store.ping()


async def test_concurrent_checks_for_many_upstreams_share_pipelines_across_masters(
    open_redis_store: OpenStore, raw_cluster: RedisCluster, cluster_url: str
) -> None:
    store = open_redis_store(cluster_url, timeout=2.0)  # a loaded machine: no spurious trips
    rules = [limits_for(name).rules("get_user") for name in UPSTREAMS]
    answers = await asyncio.gather(*(store.limiter.check(r) for r in rules * 3))
    assert [d.allowed for d in answers] == [True] * 24 + [False] * 12
    assert not any(d.degraded for d in answers)
