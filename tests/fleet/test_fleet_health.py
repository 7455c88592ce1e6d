"""Fleet health through real processes (issue 14): two `gateway serve` replicas on one
redis-server, the sandbox as OMA in its own process. During a fleet-wide login rejection both
replicas stay ready and say they are degraded, callers get the 502 envelope, and the failed-login
back-off is the fleet's, not each process's; a replica whose own login fails is fully ready once
another replica's token is in the store, and serves with it."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio

from gateway.custody import BACKOFF_CAP, BACKOFF_FIRST

from ..store.outage import RedisProcess
from .fleet import (
    Replica,
    call,
    gateway_config,
    gateway_fleet,
    gateway_replica,
    readyz,
    sandbox_requests,
    set_faults,
)

BLOCKED_KEY = "oma-gw:{oma}:login:blocked"


POLLS, POLL = 100, 0.1  # readiness and the store are polled for up to 10 s


async def _readyz_once(
    http: aiohttp.ClientSession, replica: Replica, done: Callable[[int, dict[str, Any]], bool]
) -> tuple[int, dict[str, Any]]:
    """The replica's first /readyz answer that is `done` (or the last one, after POLLS)."""
    for _ in range(POLLS):
        status, body = await readyz(http, replica)
        if done(status, body):
            break
        await asyncio.sleep(POLL)
    return status, body


def _degraded(status: int, body: dict[str, Any]) -> bool:
    return bool(body.get("degraded"))


def _fully_ready(status: int, body: dict[str, Any]) -> bool:
    return status == 200 and not body["degraded"]


async def _until_gone(client: redis.asyncio.Redis, key: str) -> None:
    for _ in range(POLLS):
        if not await client.exists(key):
            return
        await asyncio.sleep(POLL)
    raise AssertionError(f"{key} still set")


def _fleet_logins_bound(window: float) -> int:
    """The most logins one shared back-off allows in `window` seconds (custody: the k-th rejected
    login blocks the next for min(BACKOFF_CAP, BACKOFF_FIRST * 2**(k-1)) s). n logins span at
    least BACKOFF_FIRST * (2**(n-1) - 1) s while below the cap, so n <= 1 + log2(window/first + 1).
    """
    assert window < BACKOFF_CAP  # the doubling formula holds below the cap
    return 1 + math.floor(math.log2(window / BACKOFF_FIRST + 1))


async def test_a_fleet_wide_login_rejection_keeps_both_replicas_ready_and_answering_502(
    sandbox: str, redis_process: RedisProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The issue: some time into a login rejection both replicas were unready, the Service
    emptied and callers got connection errors instead of the 502 envelope."""
    await set_faults(http, sandbox, {"reject_logins": True})
    config = gateway_config(sandbox, redis_process.url)
    with gateway_fleet(config, tmp_path, count=2) as replicas:
        first = [await _readyz_once(http, replica, _degraded) for replica in replicas]
        answers, probes = [], []
        for i in range(30):  # ~3 s of calls and readiness probes to both, alternating
            answers.append(await call(http, replicas[i % 2]))
            probes.append(await readyz(http, replicas[i % 2]))
            await asyncio.sleep(0.1)
    for status, body in first + probes:
        assert status == 200, body
        assert body["ready"] is True and "upstream:oma" in body["degraded"], body
    assert {status for status, _ in answers} == {502}
    for _, envelope in answers:
        assert envelope["success"] is False and isinstance(envelope["error_number"], int)
        assert envelope["gateway_error"] == "upstream_auth_failed"


async def test_the_failed_login_back_off_is_the_fleets_across_two_processes(
    sandbox: str, redis_process: RedisProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The issue: 4 processes made 32 rejected logins in 3 minutes, each on its own back-off.
    Two replicas called every 50 ms between them make the logins one back-off allows, not two
    back-offs' worth."""
    await set_faults(http, sandbox, {"reject_logins": True})
    started = time.monotonic()  # no login can be rejected before this
    config = gateway_config(sandbox, redis_process.url)
    with gateway_fleet(config, tmp_path, count=2) as replicas:
        statuses = []
        calling_until = time.monotonic() + 7.5
        i = 0
        while time.monotonic() < calling_until:
            statuses.append((await call(http, replicas[i % 2]))[0])
            i += 1
            await asyncio.sleep(0.05)
        seen = await sandbox_requests(http, sandbox)
        window = time.monotonic() - started
    logins = seen["authenticate_count"]
    bound = _fleet_logins_bound(window)
    # Each process on its own back-off, asked this often, would make `bound` logins by itself.
    independent = 2 * _fleet_logins_bound(window - 0.5)
    assert set(statuses) == {502} and len(statuses) > 50
    assert 3 <= logins <= bound < independent, (logins, bound, window)


async def test_a_replica_whose_login_fails_serves_with_the_fleets_token_once_there(
    sandbox: str, redis_process: RedisProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Replica B has a wrong password of its own: degraded while no replica has a token; once
    replica A (the right password) has put one in the shared store, B is fully ready and serves
    with A's token without logging in."""
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password")
    right = gateway_config(sandbox, redis_process.url)
    oma = {**right["upstreams"]["oma"], "password_file": str(wrong)}
    del oma["password_env"]
    b_config = {**right, "upstreams": {"oma": oma}}
    client = redis.asyncio.Redis.from_url(redis_process.url)
    try:
        with gateway_replica(b_config, tmp_path, "b") as b:
            alone = await _readyz_once(http, b, _degraded)
            # B's rejection started the fleet's back-off (BACKOFF_FIRST): it lapses on its own.
            await _until_gone(client, BLOCKED_KEY)
            with gateway_replica(right, tmp_path, "a") as a:
                a_answer = await call(http, a)
                with_fleet = await _readyz_once(http, b, _fully_ready)
                logins_before = (await sandbox_requests(http, sandbox))["authenticate_count"]
                b_answers = [await call(http, b) for _ in range(3)]
                seen = await sandbox_requests(http, sandbox)
    finally:
        await client.aclose()
    assert alone[0] == 200 and "upstream:oma" in alone[1]["degraded"]
    assert a_answer[0] == 200
    assert with_fleet[0] == 200 and with_fleet[1]["degraded"] == {}
    assert with_fleet[1]["checks"]["upstream:oma"] is True and with_fleet[1]["reasons"] == {}
    assert [status for status, _ in b_answers] == [200] * 3
    # B's one rejected login and A's one: B's calls cost none and carried A's token.
    assert logins_before == seen["authenticate_count"] == 2
    tokens = {r["token"] for r in seen["requests"] if r["method"] == "echo"}
    assert len(tokens) == 1 and None not in tokens
