"""Login damping: an upstream that answers error_number 1 to everything costs one extra login per
window, not one per call; a login answer that is not OMA's JSON is an `error`, not `rejected`."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpClient, AiohttpServer
from structlog.testing import capture_logs

from gateway.app import GATEWAY, create_app
from gateway.custody import INVALIDATE_FIRST, SessionCustody
from gateway.errors import UpstreamUnavailable
from gateway.sandbox import Sandbox
from gateway.store.memory import MemorySessions
from gateway.upstream import OmaClient, open_session

from .support import bearer, make_settings, upstream

BOB = {"user": "bob@demo.example"}
REFUSED = {"success": False, "error_number": 1, "error": "Invalid credentials supplied in request"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _oma(aiohttp_server: AiohttpServer, seen: Counter[str], login: Handler) -> TestServer:
    async def route(request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        seen[method] += 1
        if method == "authenticate":
            return await login(request)
        return web.json_response(REFUSED)  # every token, however fresh, draws error 1

    app = web.Application()
    app.router.add_post("/api/{method}", route)
    return await aiohttp_server(app)


def _tokens(seen: Counter[str]) -> Handler:
    async def login(request: web.Request) -> web.Response:
        return web.json_response({"success": True, "session_token": f"t{seen['authenticate']}"})

    return login


async def test_error_1_to_every_token_costs_one_extra_login_not_one_per_call(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    seen: Counter[str] = Counter()
    server = await _oma(aiohttp_server, seen, _tokens(seen))
    gw = await aiohttp_client(create_app(make_settings(str(server.make_url("/api")))))
    await gw.app[GATEWAY].custodies["oma"].current()
    sequential = [
        await gw.post("/api/get_user", json=BOB, headers=bearer("billing")) for _ in range(10)
    ]
    concurrent = await asyncio.gather(
        *(gw.post("/api/get_user", json=BOB, headers=bearer("billing")) for _ in range(30))
    )
    for response in (*sequential, *concurrent):
        assert response.status == 200 and (await response.json())["error_number"] == 1
    assert seen["authenticate"] == 2  # the warm-up, then one for the first stale report
    assert seen["get_user"] == 41  # one resend only, for that first report
    assert gw.app[GATEWAY].custodies["oma"].damped >= 39


async def test_the_window_doubles_while_fresh_tokens_are_refused_too(
    aiohttp_server: AiohttpServer,
) -> None:
    seen: Counter[str] = Counter()
    server = await _oma(aiohttp_server, seen, _tokens(seen))
    settings = upstream(str(server.make_url("/api")))
    now = [1000.0]
    custody = SessionCustody(
        OmaClient(settings, open_session(settings)), MemorySessions(), clock=lambda: now[0]
    )
    try:
        first = await custody.current()
        fresh = await custody.invalidate(first)
        assert fresh is not None and seen["authenticate"] == 2
        assert await custody.invalidate(fresh) is None  # the fresh one refused too: damped
        now[0] += INVALIDATE_FIRST + 1
        assert await custody.invalidate(fresh) is None  # the window has doubled to 20 s
        now[0] += INVALIDATE_FIRST
        third = await custody.invalidate(fresh)
        assert third is not None and seen["authenticate"] == 3
    finally:
        await custody.close()


async def test_after_damping_a_later_stale_token_is_replaced_and_resent_again(
    oma_url: str, oma: Sandbox
) -> None:
    settings = upstream(oma_url)
    now = [oma.clock()]
    custody = SessionCustody(
        OmaClient(settings, open_session(settings)), MemorySessions(), clock=lambda: now[0]
    )
    try:
        first = await custody.current()
        second = await custody.invalidate(first)
        assert second is not None
        assert await custody.invalidate(second) is None  # damped: a fresh token refused
        now[0] += settings.token_lifetime  # long after: the held token has run out
        later = await custody.current()  # an ordinary login, not a stale-token replacement
        replaced = await custody.invalidate(later)
        assert replaced is not None and replaced.token != later.token
        assert oma.authenticate_count == 4
    finally:
        await custody.close()


async def _page(request: web.Request) -> web.Response:
    return web.Response(status=404, text="<html>Not Found</html>", content_type="text/html")


async def _proxy_json(request: web.Request) -> web.Response:
    return web.json_response({"message": "client certificate required"}, status=200)


@pytest.mark.parametrize(("login", "cause"), [(_page, "http_status"), (_proxy_json, "not_json")])
async def test_a_login_answer_that_is_not_omas_json_is_an_error_not_a_rejection(
    aiohttp_server: AiohttpServer, login: Handler, cause: str
) -> None:
    seen: Counter[str] = Counter()
    server = await _oma(aiohttp_server, seen, login)
    settings = upstream(str(server.make_url("/api")))
    custody = SessionCustody(OmaClient(settings, open_session(settings)), MemorySessions())
    try:
        with capture_logs() as logs, pytest.raises(UpstreamUnavailable) as raised:
            await custody.current()
    finally:
        await custody.close()
    assert raised.value.code == "upstream_unavailable" and raised.value.cause == cause
    assert custody.login_results == Counter({"error": 1})
    assert [e["cause"] for e in logs if e["event"] == "oma_login_failed"] == [cause]
    assert not [e for e in logs if e["event"] == "oma_login_rejected"]
    assert custody.client.failures[cause] == 1
