"""Session custody: one OMA login for all callers, refreshed ahead of time, resent once."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import replace

from aiohttp import web
from pytest_aiohttp import AiohttpClient, AiohttpServer

from gateway.app import GATEWAY, create_app
from gateway.custody import SessionCustody
from gateway.errors import UpstreamAuthFailed
from gateway.sandbox import Fault, Sandbox
from gateway.secrets import Secret
from gateway.settings import Settings
from gateway.store.memory import MemorySessions
from gateway.upstream import OmaClient, open_session

from .support import OMA_PASSWORD, Client, bearer, make_settings, upstream

BOB = {"user": "bob@demo.example"}


async def test_a_hundred_concurrent_first_calls_make_exactly_one_login(
    gw: Client, oma: Sandbox
) -> None:
    answers = await asyncio.gather(
        *(gw.post("/api/get_user", json=BOB, headers=bearer("billing")) for _ in range(100))
    )
    assert [a.status for a in answers] == [200] * 100
    assert oma.authenticate_count == 1
    tokens = {r.token for r in oma.requests if r.method == "get_user"}
    assert len(tokens) == 1  # one token serves every caller


async def test_custody_single_flight_without_the_warm_up(oma_url: str, oma: Sandbox) -> None:
    settings = upstream(oma_url)
    custody = SessionCustody(OmaClient(settings, open_session(settings)), MemorySessions())
    try:
        tokens = await asyncio.gather(*(custody.current() for _ in range(100)))
    finally:
        await custody.close()
    assert len({t.token.reveal() for t in tokens}) == 1
    assert oma.authenticate_count == 1 and custody.logins == 1


async def test_login_asks_for_the_configured_lifetime_and_keeps_the_password_out(
    gw: Client, oma: Sandbox
) -> None:
    await gw.post("/api/get_user", json=BOB, headers=bearer("billing"))
    login = next(r for r in oma.requests if r.method == "authenticate")
    assert login.auth == "password" and login.user == "admin@demo.adm"
    token = await gw.app[GATEWAY].custodies["oma"].current()
    # The sandbox grants what was asked (session_token_duration), so the granted span shows it.
    assert token.expires_at - token.issued_at == 3600
    assert token.issued_at < token.refresh_at < token.expires_at


async def test_token_is_refreshed_ahead_of_expiry_so_no_caller_waits(
    aiohttp_client: AiohttpClient, oma_url: str, oma: Sandbox
) -> None:
    # A 2 s lifetime: refresh is due at 1.5-1.6 s, well before the token's end.
    settings = make_settings(oma_url)
    settings = replace(settings, upstreams={"oma": upstream(oma_url, token_lifetime=2.0)})
    gw = await aiohttp_client(create_app(settings))
    custody = gw.app[GATEWAY].custodies["oma"]
    first = await custody.current()
    await asyncio.sleep(1.9)
    second = await custody.current()
    assert second.token != first.token
    assert second.issued_at < first.expires_at  # the new one came before the old one ended
    assert oma.authenticate_count == 2


async def test_stale_token_is_refreshed_and_the_call_resent_once(gw: Client, oma: Sandbox) -> None:
    await gw.post("/api/get_user", json=BOB, headers=bearer("billing"))
    oma.revoke_tokens()  # OMA forgets the token: the next call gets error_number 1
    response = await gw.post("/api/get_user", json=BOB, headers=bearer("billing"))
    assert response.status == 200 and (await response.json())["success"] is True
    methods = [r.method for r in oma.requests]
    assert methods[-3:] == ["get_user", "authenticate", "get_user"]
    assert oma.authenticate_count == 2


async def test_persistent_error_1_is_resent_exactly_once_never_looped(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient
) -> None:
    seen: Counter[str] = Counter()

    async def scripted(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        seen[method] += 1
        if method == "authenticate":
            return web.json_response(
                {
                    "success": True,
                    "session_token": f"t{seen[method]}",
                    "session_token_duration": 3600,
                }
            )
        return web.json_response(
            {
                "success": False,
                "error_number": 1,
                "error": "Invalid credentials supplied in request",
            }
        )

    app = web.Application()
    app.router.add_post("/api/{method}", scripted)
    server = await aiohttp_server(app)
    gw = await aiohttp_client(create_app(make_settings(str(server.make_url("/api")))))
    await asyncio.sleep(0.1)  # let the warm-up login land
    response = await gw.post("/api/get_user", json=BOB, headers=bearer("billing"))
    assert response.status == 200
    body = await response.json()
    assert body["error_number"] == 1 and "gateway_error" not in body
    assert seen["get_user"] == 2
    assert seen["authenticate"] == 2  # the warm-up, then one refresh for the resend


async def test_invalidate_drops_only_the_token_that_failed(oma_url: str, oma: Sandbox) -> None:
    sessions = MemorySessions()
    settings = upstream(oma_url)
    custody = SessionCustody(OmaClient(settings, open_session(settings)), sessions)
    try:
        old = await custody.current()
        newer = await custody.invalidate(old)
        assert newer is not None and newer.token != old.token
        # A second caller reporting the same old token must not throw the newer one away.
        again = await custody.invalidate(old)
        assert again is not None and again.token == newer.token
        assert oma.authenticate_count == 2
        assert not await sessions.discard("oma", Secret("not-the-current-token"))
    finally:
        await custody.close()


async def test_rejected_gateway_login_backs_off_instead_of_hammering(
    aiohttp_client: AiohttpClient, oma_url: str, oma: Sandbox
) -> None:
    oma.faults.reject_logins = Fault()
    gw = await aiohttp_client(create_app(make_settings(oma_url)))
    answers = [
        await gw.post("/api/get_user", json=BOB, headers=bearer("billing")) for _ in range(5)
    ]
    assert {a.status for a in answers} == {502}
    assert {(await a.json())["gateway_error"] for a in answers} == {"upstream_auth_failed"}
    assert oma.authenticate_count == 1  # one rejection, then the back-off holds the rest


async def test_login_recovers_after_the_back_off(oma_url: str, oma: Sandbox) -> None:
    settings = upstream(oma_url)
    now = [1000.0]
    clock = lambda: now[0]  # noqa: E731 (one clock for custody and its store's back-off)
    custody = SessionCustody(
        OmaClient(settings, open_session(settings)), MemorySessions(clock), clock=clock
    )
    oma.faults.reject_logins = Fault(times=1)
    try:
        for _ in range(3):
            with contextlib.suppress(UpstreamAuthFailed):
                await custody.current()
        assert oma.authenticate_count == 1
        now[0] += 1.5  # past the first back-off step
        token = await custody.current()
        assert token.token.reveal() and oma.authenticate_count == 2
    finally:
        await custody.close()


async def test_no_answer_ever_hands_out_the_session_token_or_password(
    gw: Client, oma: Sandbox
) -> None:
    echo = await gw.post("/api/echo", json={"hello": "world"}, headers=bearer("billing"))
    text = await echo.text()
    token = oma.requests[-1].token
    assert token and token not in text and OMA_PASSWORD not in text
    assert "credentials" not in await echo.json()
    assert (await echo.json())["hello"] == "world"


async def test_download_urls_are_replaced_by_a_gateway_link_that_serves_the_file(
    aiohttp_client: AiohttpClient, settings: Settings, oma: Sandbox
) -> None:
    gw = await aiohttp_client(create_app(settings))
    body = {"type": "domain", "object": "demo.example", "date": "2026-11-01"}
    response = await gw.post("/api/stats_snapshot", json=body, headers=bearer("support"))
    answer = await response.json()
    token = oma.requests[-1].token
    assert answer["success"] is True
    assert token and token not in answer["snapshot"] and "admin" not in answer["snapshot"]
    assert answer["snapshot"].startswith(str(gw.make_url("/download/omagw_dl_")))
    # The sandbox serves its files: the link works for the same caller, end to end.
    served = await gw.session.get(answer["snapshot"], headers=bearer("support"))
    assert served.status == 200 and await served.read()
    other = await gw.session.get(answer["snapshot"], headers=bearer("billing"))
    assert other.status == 404
