"""The hardening metrics as an operator reads them: from the admin port's /metrics of a gateway
serving over real HTTP, against a scripted OMA. The refresher's survived errors, damped
stale-token reports and per-caller in-flight refusals each show there, not only in code."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

from aiohttp import web
from prometheus_client import CollectorRegistry
from pytest_aiohttp import AiohttpClient, AiohttpServer

from gateway.admin import create_admin_app
from gateway.app import GATEWAY, create_app
from gateway.metrics import Metrics
from gateway.settings import UpstreamSettings
from gateway.store import Store
from gateway.store.memory import MemoryStore

from ..ops.procs import until
from ..support import Client, FailingFirst, bearer, make_settings, upstream
from .test_metrics import scrape, value

BOB = {"user": "bob@demo.example"}
STALE = {"success": False, "error_number": 1, "error": "Invalid credentials supplied in request"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _oma(aiohttp_server: AiohttpServer, answer: Handler) -> str:
    """A scripted OMA: logins work, every other method answers with `answer`."""

    async def route(request: web.Request) -> web.StreamResponse:
        if request.match_info["method"] == "authenticate":
            return web.json_response({"success": True, "session_token": "t"})
        return await answer(request)

    app = web.Application()
    app.router.add_post("/api/{method}", route)
    return str((await aiohttp_server(app)).make_url("/api"))


async def _serve(
    aiohttp_client: AiohttpClient, oma: UpstreamSettings, store: Store | None = None
) -> tuple[Client, Client]:
    settings = replace(make_settings(oma.url), upstreams={"oma": oma})
    app = create_app(settings, metrics=Metrics(CollectorRegistry()), store=store)
    return await aiohttp_client(app), await aiohttp_client(create_admin_app(app))


async def _metric(admin: Client, name: str, **labels: str) -> float:
    return value((await scrape(admin))[1], name, **labels)


async def test_a_refresher_error_it_survived_is_counted_on_metrics(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"success": True})

    store = MemoryStore()
    store.sessions = FailingFirst(1)  # the refresher's first look at the store fails
    oma = upstream(await _oma(aiohttp_server, ok), token_lifetime=60.0)  # retries after 1 s
    gw, admin = await _serve(aiohttp_client, oma, store)
    name = "oma_gateway_token_refresher_errors_total"

    async def errors() -> float:
        return await _metric(admin, name, upstream="oma")

    async def usable() -> bool:
        return gw.app[GATEWAY].custodies["oma"].has_usable_token()

    await until("the refresher error on /metrics", errors, 1.0, seconds=3)
    await until("the refresher's retry", usable, seconds=4)
    assert await errors() == 1.0  # survived: it logged in on the retry, no second error


async def test_damped_stale_token_reports_are_counted_on_metrics(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    async def stale(request: web.Request) -> web.Response:
        return web.json_response(STALE)  # every token, however fresh, draws error 1

    gw, admin = await _serve(aiohttp_client, upstream(await _oma(aiohttp_server, stale)))
    name = "oma_gateway_token_invalidations_damped_total"
    assert await _metric(admin, name, upstream="oma") == 0  # exported from zero
    for _ in range(10):
        response = await gw.post("/api/get_user", json=BOB, headers=bearer("billing"))
        assert (await response.json())["error_number"] == 1
    # The first report cost a login and a resend; the nine after it in the window were damped.
    assert await _metric(admin, name, upstream="oma") == 9
    assert gw.app[GATEWAY].custodies["oma"].damped == 9


async def test_in_flight_refusals_are_counted_on_metrics_by_caller(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.5)
        return web.json_response({"success": True, "attributes": {}})

    oma = upstream(await _oma(aiohttp_server, slow), max_in_flight_per_caller=1)
    gw, admin = await _serve(aiohttp_client, oma)
    name = "oma_gateway_in_flight_refused_total"
    first = asyncio.create_task(gw.post("/api/get_user", json=BOB, headers=bearer("billing")))
    await asyncio.sleep(0.1)  # billing's one call is in flight
    second = await gw.post("/api/get_user", json=BOB, headers=bearer("billing"))
    assert second.status == 429 and (await first).status == 200
    assert await _metric(admin, name, upstream="oma", caller="billing") == 1
    assert await _metric(admin, name, upstream="oma", caller="support") == 0  # from zero
