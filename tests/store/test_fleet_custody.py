"""Session custody across replicas sharing one real Redis: the proactive refresh is made by one
replica for the fleet, and a stale token reported by every replica costs one login, not one each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.custody import SessionCustody
from gateway.sandbox import Sandbox
from gateway.upstream import OmaClient, open_session

from ..support import upstream
from .conftest import OpenStore, new_key

REPLICAS = 3


@pytest.fixture
async def fleet(
    oma_url: str, open_redis_store: OpenStore, raw_redis: Redis
) -> AsyncIterator[list[SessionCustody]]:
    """Three replicas' custodies of one upstream: own store connection and client each, one
    Redis and one store key between them (as three gateway processes would have)."""
    key = new_key()
    settings = upstream(oma_url, token_lifetime=2.0)
    custodies = [
        SessionCustody(
            OmaClient(settings, open_session(settings)),
            open_redis_store(encryption_key=key).sessions,
        )
        for _ in range(REPLICAS)
    ]
    yield custodies
    for custody in custodies:
        await custody.close()


async def test_the_proactive_refresh_is_made_by_one_replica_for_the_fleet(
    fleet: list[SessionCustody], oma: Sandbox
) -> None:
    for custody in fleet:
        custody.start()  # warm-up login, then refresh ahead at 75-80 % of 2 s
    await asyncio.sleep(0.5)
    first = {(await c.current()).token.reveal() for c in fleet}
    assert len(first) == 1 and oma.authenticate_count == 1
    await asyncio.sleep(1.6)  # past the refresh point (1.5-1.6 s plus each replica's spread)
    second = {(await c.current()).token.reveal() for c in fleet}
    assert len(second) == 1 and second != first  # all moved to the same new token
    assert oma.authenticate_count == 2  # one login for the refresh, by one replica


async def test_a_stale_token_reported_by_every_replica_costs_one_login(
    fleet: list[SessionCustody], oma: Sandbox
) -> None:
    tokens = await asyncio.gather(*(c.current() for c in fleet))
    assert len({t.token.reveal() for t in tokens}) == 1 and oma.authenticate_count == 1
    reported = await asyncio.gather(*(c.invalidate(t) for c, t in zip(fleet, tokens, strict=True)))
    renewed = [t for t in reported if t is not None]
    assert len(renewed) == REPLICAS and len({t.token.reveal() for t in renewed}) == 1
    assert renewed[0].token != tokens[0].token
    assert oma.authenticate_count == 2  # compare-and-delete: the late reporters adopt the new one
