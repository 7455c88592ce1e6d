"""What the Redis limiter costs per request, as a ratio to memory://, measured in one run.

    .venv/bin/python -m bench.limiter_cost [--checks 5000] [--requests 3000]

Three figures, each against a throw-away redis-server on loopback:

1. one check at a time (latency: one round trip per check);
2. 64 checks in flight, without coalescing, coalesced through redis-py, coalesced lean;
3. whole requests through the gateway (in process, in front of the in-process sandbox),
   32 in flight, memory:// against redis://.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
import structlog
from aiohttp.test_utils import TestServer

from gateway.app import create_app
from gateway.sandbox import Sandbox, create_sandbox_app
from gateway.secrets import Secret, digest
from gateway.settings import (
    AuditSettings,
    CallerKey,
    CallerSettings,
    RateSpec,
    Settings,
    StoreSettings,
    UpstreamSettings,
)
from gateway.store import Limiter, LimitRule
from gateway.store.memory import MemoryLimiter
from gateway.store.redis_store import RedisLimiter, RedisStore

from .redis_server import running as redis_server

KEY = "omagw_bench_limiter_cost_key_000000000000000000"
Row = tuple[str, float, float]  # what, CPU microseconds with memory://, with redis://
RULES = (  # what a call with a per-method limit checks: method, caller, upstream
    LimitRule("method", "{oma}:method:bench:get_user", RateSpec(1e6, 10**6)),
    LimitRule("caller", "{oma}:caller:bench", RateSpec(1e6, 10**6)),
    LimitRule("upstream", "{oma}:upstream", RateSpec(1e6, 10**6)),
)


def store_settings(url: str) -> StoreSettings:
    key = Secret(base64.urlsafe_b64encode(os.urandom(32)).decode())
    return StoreSettings(url=url, encryption_key=key, timeout=1.0)


async def in_flight(count: int, width: int, action: Callable[[], Awaitable[object]]) -> float:
    """CPU microseconds per action, `count` actions with `width` in flight."""
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await action()

    started = time.process_time()  # CPU of this process: the event loop's cost, not the RTT
    await asyncio.gather(*(worker() for _ in range(width)))
    return (time.process_time() - started) / count * 1e6


async def limiter_figures(url: str, checks: int) -> list[Row]:
    memory: Limiter = MemoryLimiter()
    plain, coalesced = (
        RedisStore(store_settings(url), coalesce=False),
        RedisStore(store_settings(url)),
    )
    redis_py = RedisLimiter(coalesced.client, lean=False)  # the same pool, redis-py's layer
    rows: list[Row] = []
    for label, width in (("limiter, 1 in flight", 1), ("limiter, 64 in flight", 64)):
        base = await in_flight(checks, width, lambda: memory.check(RULES))
        for name, limiter in (
            ("redis", plain.limiter),
            ("redis+coalesce via redis-py", redis_py),
            ("redis+coalesce, lean", coalesced.limiter),
        ):
            check = functools.partial(limiter.check, RULES)
            await in_flight(200, width, check)  # warm the pool
            cost = await in_flight(checks, width, check)
            rows.append((f"{label}, {name}", base, cost))
    await plain.close()
    await coalesced.close()
    return rows


def gateway_settings(oma_url: str, store: StoreSettings) -> Settings:
    upstream = UpstreamSettings(
        name="oma", url=oma_url, user="admin@demo.adm", password=Secret("demo-password"),
        rate_limit=RateSpec(1e6, 10**6),
    )  # fmt: skip
    caller = CallerSettings(
        name="bench", keys=(CallerKey(digest(KEY)),), upstream="oma", allow=("get_user",),
        rate_limit=RateSpec(1e6, 10**6), method_limits={"get_user": RateSpec(1e6, 10**6)},
    )  # fmt: skip
    audit = AuditSettings(file=os.path.join(tempfile.gettempdir(), "limiter-cost-audit.jsonl"))
    return Settings(
        upstreams={"oma": upstream}, callers={"bench": caller}, store=store, audit=audit
    )


async def gateway_cost(oma_url: str, store: StoreSettings, requests: int) -> float:
    server = TestServer(create_app(gateway_settings(oma_url, store)))
    await server.start_server()
    url = str(server.make_url("/api/get_user"))
    body, headers = {"user": "alice@demo.example"}, {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession() as http:

        async def one() -> None:
            async with http.post(url, json=body, headers=headers) as response:
                assert response.status == 200, await response.text()

        await in_flight(200, 32, one)  # login, pools
        cost = await in_flight(requests, 32, one)
    await server.close()
    return cost


async def one_round(url: str, oma_url: str, args: argparse.Namespace) -> list[Row]:
    rows = await limiter_figures(url, args.checks)
    base = await gateway_cost(oma_url, StoreSettings(), args.requests)
    cost = await gateway_cost(oma_url, store_settings(url), args.requests)
    return [*rows, ("gateway request, 32 in flight, redis+coalesce", base, cost)]


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3, help="the median of each figure is shown")
    args = parser.parse_args(argv)
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())  # audit lines: not here
    rounds = []
    with redis_server() as url:
        oma = TestServer(create_sandbox_app(Sandbox()))
        await oma.start_server()
        for _ in range(args.rounds):
            rounds.append(await one_round(url, str(oma.make_url("/api")), args))
        await oma.close()
    title = f"what (median of {args.rounds} rounds)"
    print(f"{title:<50} {'memory CPU us':>13} {'redis CPU us':>13} {'ratio':>7}")
    for i, (label, *_) in enumerate(rounds[0]):
        base = statistics.median(r[i][1] for r in rounds)
        cost = statistics.median(r[i][2] for r in rounds)
        ratio = statistics.median(r[i][2] / r[i][1] for r in rounds)
        print(f"{label:<50} {base:>13.1f} {cost:>13.1f} {ratio:>7.2f}")


if __name__ == "__main__":
    asyncio.run(main())
