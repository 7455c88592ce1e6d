"""One caller saturating an upstream cannot starve another: `max_in_flight_per_caller` bounds
each caller's calls in flight, beyond it `rate_limited`, and the other caller's calls get the
pool. Against a real, slow aiohttp upstream with a small connection pool."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from aiohttp import web
from pytest_aiohttp import AiohttpClient, AiohttpServer

from gateway.app import GATEWAY, create_app
from gateway.inflight import InFlightGate
from gateway.settings import UpstreamSettings

from .support import Client, bearer, make_settings, upstream

BOB = {"user": "bob@demo.example"}
SLOW = 0.5  # seconds OMA takes per call


async def _slow_oma(aiohttp_server: AiohttpServer) -> str:
    async def answer(request: web.Request) -> web.Response:
        if request.match_info["method"] == "authenticate":
            return web.json_response({"success": True, "session_token": "t"})
        await asyncio.sleep(SLOW)
        return web.json_response({"success": True, "attributes": {}})

    app = web.Application()
    app.router.add_post("/api/{method}", answer)
    return str((await aiohttp_server(app)).make_url("/api"))


async def _gateway(aiohttp_client: AiohttpClient, oma: UpstreamSettings) -> Client:
    settings = replace(make_settings(oma.url), upstreams={"oma": oma})
    gw = await aiohttp_client(create_app(settings))
    await gw.app[GATEWAY].custodies["oma"].current()
    return gw


async def _timed(gw: Client, caller: str) -> tuple[int, float, dict[str, object]]:
    started = time.perf_counter()
    response = await gw.post("/api/get_user", json=BOB, headers=bearer(caller))
    return response.status, time.perf_counter() - started, await response.json()


async def test_one_caller_filling_the_pool_cannot_starve_another(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    # A pool of 8 and the default per-caller bound (half of it: 4). Before the bound, billing's
    # 60 calls queued for the pool and support's calls waited behind them past the timeout.
    url = await _slow_oma(aiohttp_server)
    gw = await _gateway(aiohttp_client, upstream(url, max_connections=8, timeout=2.0))
    flood = [asyncio.create_task(_timed(gw, "billing")) for _ in range(60)]
    await asyncio.sleep(0.05)  # the flood is in flight first
    others = await asyncio.gather(*(_timed(gw, "support") for _ in range(3)))
    flooded = await asyncio.gather(*flood)
    assert [status for status, _, _ in others] == [200, 200, 200]
    assert max(took for _, took, _ in others) < SLOW + 0.4
    statuses = [status for status, _, _ in flooded]
    assert statuses.count(200) == 4 and statuses.count(429) == 56
    refused = next(body for status, _, body in flooded if status == 429)
    assert refused["gateway_error"] == "rate_limited" and refused["success"] is False


async def test_a_refusal_carries_retry_after_and_the_in_flight_policy(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    url = await _slow_oma(aiohttp_server)
    gw = await _gateway(aiohttp_client, upstream(url, max_in_flight_per_caller=1))
    first = asyncio.create_task(gw.post("/api/get_user", json=BOB, headers=bearer("billing")))
    await asyncio.sleep(0.1)
    second = await gw.post("/api/get_user", json=BOB, headers=bearer("billing"))
    assert second.status == 429
    assert second.headers["Retry-After"] == "1"
    assert second.headers["RateLimit-Policy"] == '"in_flight";q=1'
    assert (await first).status == 200
    gate = gw.app[GATEWAY].custodies["oma"].gate
    assert gate.in_flight("billing") == 0 and gate.refused["billing"] == 1


def test_the_default_bound_is_half_the_upstreams_pool() -> None:
    assert upstream("http://127.0.0.1/api").in_flight_per_caller == 512
    assert upstream("http://127.0.0.1/api", max_connections=0).in_flight_per_caller == 0
    assert upstream("http://127.0.0.1/api", max_in_flight_per_caller=3).in_flight_per_caller == 3


def test_a_gate_without_a_bound_admits_everything_and_forgets_finished_callers() -> None:
    gate = InFlightGate(0)
    with gate.enter("a"), gate.enter("a"):
        assert gate.in_flight("a") == 2
    assert gate.in_flight("a") == 0 and not gate.refused
