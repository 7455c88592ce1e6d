"""The failed-login back-off is the fleet's: replicas on one real Redis make one rejected login per
back-off step between them, not one each; with Redis down each falls back to its own back-off.
And the outage budget is divided among the processes that share the store."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.custody import SessionCustody
from gateway.errors import UpstreamError
from gateway.sandbox import Fault, Sandbox
from gateway.settings import RateSpec
from gateway.store import WORKERS_ENV, LimitRule, open_store
from gateway.upstream import OmaClient, open_session

from ..support import free_port, upstream
from .conftest import OpenStore, new_key, redis_settings

REPLICAS = 4


async def _hammer(custodies: list[SessionCustody], seconds: float) -> None:
    """Every replica asks for the token every 50 ms, as a steady trickle of calls would."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for custody in custodies:
            with contextlib.suppress(UpstreamError):
                await custody.current()
        await asyncio.sleep(0.05)


@pytest.fixture
async def replicas(
    oma_url: str, open_redis_store: OpenStore, raw_redis: Redis
) -> AsyncIterator[list[SessionCustody]]:
    key = new_key()
    settings = upstream(oma_url)
    held = [
        SessionCustody(
            OmaClient(settings, open_session(settings)),
            open_redis_store(encryption_key=key).sessions,
        )
        for _ in range(REPLICAS)
    ]
    yield held
    for custody in held:
        await custody.close()


async def test_replicas_on_one_redis_share_one_login_back_off(
    replicas: list[SessionCustody], oma: Sandbox
) -> None:
    oma.faults.reject_logins = Fault()
    await _hammer(replicas, 3.5)
    # Back-off steps of 1 s, 2 s, ...: rejected logins at about 0, 1 and 3 s for the fleet.
    # Each replica on its own back-off made three each (twelve in all) before this.
    assert oma.authenticate_count <= 4
    assert sum(c.login_results["rejected"] for c in replicas) == oma.authenticate_count


async def test_a_login_that_works_clears_the_fleets_back_off(
    replicas: list[SessionCustody], oma: Sandbox, raw_redis: Redis
) -> None:
    oma.faults.reject_logins = Fault(times=1)
    await _hammer(replicas[:1], 0.1)
    assert await raw_redis.exists("oma-gw:{oma}:login:blocked") == 1
    await asyncio.sleep(1.1)
    token = await replicas[1].current()
    assert token.token.reveal()
    assert await raw_redis.exists("oma-gw:{oma}:login:blocked", "oma-gw:{oma}:login:failures") == 0


async def test_a_reloaded_upstream_is_tried_once_through_the_fleets_back_off(
    oma_url: str, oma: Sandbox, open_redis_store: OpenStore, replicas: list[SessionCustody]
) -> None:
    """The password runbook: the fixed password (a reload's changed upstream) logs in at once,
    not after the back-off the wrong one earned, which grows to minutes; a replica still on the
    old settings keeps backing off."""
    oma.faults.reject_logins = Fault(times=1)
    await _hammer(replicas[:1], 0.1)  # the wrong password: the fleet backs off
    settings = upstream(oma_url)
    changed = SessionCustody(
        OmaClient(settings, open_session(settings)), replicas[1]._sessions, changed=True
    )
    try:
        with pytest.raises(UpstreamError):
            await replicas[2].current()  # same settings as the rejected one: backed off
        assert (await changed.current()).token.reveal()  # tried at once
        assert oma.authenticate_count == 2
    finally:
        await changed.close()


async def test_with_redis_down_each_replica_backs_off_on_its_own(
    oma_url: str, oma: Sandbox
) -> None:
    settings = upstream(oma_url)
    dead = redis_settings(f"redis://127.0.0.1:{free_port()}/0")
    store = open_store(dead)
    custody = SessionCustody(OmaClient(settings, open_session(settings)), store.sessions)
    oma.faults.reject_logins = Fault()
    try:
        await _hammer([custody], 0.8)
    finally:
        await custody.close()
        await store.close()
    assert oma.authenticate_count == 1  # the process's own back-off held the rest


async def test_the_outage_budget_is_divided_by_workers_and_replicas() -> None:
    dead = redis_settings(f"redis://127.0.0.1:{free_port()}/0", replicas=2)
    store = open_store(dead, workers=4)
    rules = [LimitRule("caller", "{oma}:caller:a", RateSpec(0.01, 16))]
    try:
        decisions = [await store.limiter.check(rules) for _ in range(40)]
    finally:
        await store.close()
    assert all(d.degraded for d in decisions)
    assert sum(d.allowed for d in decisions) == 2  # 16 / (2 replicas x 4 workers)


def test_the_worker_count_comes_from_the_supervisors_environment() -> None:
    probe = (
        "from gateway.store import open_store; from gateway.settings import StoreSettings;"
        "from gateway.secrets import Secret; import base64, os;"
        "key = Secret(base64.urlsafe_b64encode(os.urandom(32)).decode());"
        "s = open_store(StoreSettings(url='redis://127.0.0.1:1/0', encryption_key=key,"
        " replicas=3)); print(s.limiter.share)"
    )
    env = {WORKERS_ENV: "5", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(  # noqa: S603 (our own interpreter)
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "15"
