"""Store fixtures: the same behaviour tests run against `memory://` and a real redis-server."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from gateway.secrets import Secret
from gateway.settings import StoreSettings
from gateway.store import Store, open_store


def new_key() -> Secret:
    return Secret(base64.urlsafe_b64encode(os.urandom(32)).decode())


def redis_settings(url: str, **overrides: object) -> StoreSettings:
    fields: dict[str, object] = {"url": url, "encryption_key": new_key(), **overrides}
    return StoreSettings(**fields)  # type: ignore[arg-type]


@pytest.fixture
async def raw_redis(redis_url: str) -> AsyncIterator[Redis]:
    """A plain client to look at what the store wrote; the database starts empty per test."""
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


OpenStore = Callable[..., Store]


@pytest.fixture
async def open_redis_store(redis_url: str) -> AsyncIterator[OpenStore]:
    """Opens Redis stores ("replicas") on the test's Redis; all are closed at teardown."""
    opened: list[Store] = []

    def open_one(url: str = redis_url, **overrides: object) -> Store:
        opened.append(open_store(redis_settings(url, **overrides)))
        return opened[-1]

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture(params=["memory", "redis"])
async def store(
    request: pytest.FixtureRequest, redis_url: str, raw_redis: Redis
) -> AsyncIterator[Store]:
    memory = request.param == "memory"
    opened = open_store(StoreSettings() if memory else redis_settings(redis_url))
    yield opened
    await opened.close()
