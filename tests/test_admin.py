"""The admin port over real HTTP: liveness, readiness and what makes a replica not ready."""

from __future__ import annotations

import asyncio
import base64
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pytest_aiohttp import AiohttpClient
from redis.asyncio import Redis

from gateway.admin import create_admin_app
from gateway.app import AUDIT, GATEWAY, create_app
from gateway.sandbox import Fault, Sandbox
from gateway.secrets import Secret
from gateway.settings import AuditSettings, Settings, StoreSettings

from .support import Client, bearer, redis_server


async def serve(aiohttp_client: AiohttpClient, settings: Settings) -> tuple[Any, Client, Client]:
    app = create_app(settings)
    gw = await aiohttp_client(app)
    return app, gw, await aiohttp_client(create_admin_app(app))


async def readiness(admin: Client, want: int) -> dict[str, Any]:
    """The /readyz body once it answers `want` (warm-up logins run in the background)."""
    deadline = asyncio.get_running_loop().time() + 5.0
    while True:
        response = await admin.get("/readyz")
        body: dict[str, Any] = await response.json()
        if response.status == want or asyncio.get_running_loop().time() > deadline:
            assert response.status == want, body
            return body
        await asyncio.sleep(0.02)


async def test_healthz_answers_while_the_process_serves(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    _, _, admin = await serve(aiohttp_client, settings)
    response = await admin.get("/healthz")
    assert response.status == 200 and (await response.json()) == {"status": "ok"}


async def test_ready_once_the_upstream_session_is_usable(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    _, _, admin = await serve(aiohttp_client, settings)
    body = await readiness(admin, 200)
    assert body == {
        "ready": True,
        "checks": {"serving": True, "upstream:oma": True},
        "reasons": {},
        "degraded": {},
    }


async def test_not_ready_while_draining(aiohttp_client: AiohttpClient, settings: Settings) -> None:
    app, _, admin = await serve(aiohttp_client, settings)
    await readiness(admin, 200)
    app[GATEWAY].draining = True
    body = await readiness(admin, 503)
    assert body["checks"]["serving"] is False


async def until_degraded(admin: Client) -> dict[str, Any]:
    """The /readyz body once it reports a degraded upstream (the warm-up login was answered)."""
    for _ in range(250):
        response = await admin.get("/readyz")
        body: dict[str, Any] = await response.json()
        if body["degraded"]:
            assert response.status == 200, body
            return body
        await asyncio.sleep(0.02)
    raise AssertionError(body)


async def test_a_fleet_wide_login_rejection_keeps_the_replica_ready_and_degraded(
    aiohttp_client: AiohttpClient, settings: Settings, oma: Sandbox
) -> None:
    """The issue: ~60 s into a login rejection both replicas were unready, the Service emptied
    and callers got connection errors instead of the 502 envelope. No replica has a token, so
    none is better than another: they stay ready, say they are degraded, and answer 502."""
    oma.faults.reject_logins = Fault()
    _, gw, admin = await serve(aiohttp_client, settings)
    body = await until_degraded(admin)
    answer = await gw.post("/api/get_user", json={"user": "x@demo.example"},
                           headers=bearer("billing"))  # fmt: skip
    assert body["ready"] is True and "logins fail" in body["degraded"]["upstream:oma"]
    assert answer.status == 502
    assert (await answer.json())["gateway_error"] == "upstream_auth_failed"


async def test_not_ready_while_warming_up(
    aiohttp_client: AiohttpClient, settings: Settings, oma: Sandbox
) -> None:
    oma.faults.latency = Fault(seconds=1.0)  # the warm-up login is still on its way
    _, _, admin = await serve(aiohttp_client, settings)
    response = await admin.get("/readyz")
    body = await response.json()
    assert response.status == 503 and body["checks"]["upstream:oma"] is False
    assert body["reasons"]["upstream:oma"].startswith("warming up")


def _redis_store(url: str, on_error: Literal["fail_open", "fail_closed"]) -> StoreSettings:
    key = Secret(base64.urlsafe_b64encode(os.urandom(32)).decode())
    return StoreSettings(url=url, encryption_key=key, on_error=on_error)


async def test_readiness_follows_a_fail_closed_redis_store(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    with redis_server() as url:
        store = _redis_store(url, on_error="fail_closed")
        _, _, admin = await serve(aiohttp_client, replace(settings, store=store))
        body = await readiness(admin, 200)
        assert body["checks"]["store"] is True
    body = await readiness(admin, 503)  # the redis-server process is gone
    assert body["checks"]["store"] is False


async def test_a_fail_open_replica_stays_ready_through_a_redis_outage(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    with redis_server() as url:
        store = _redis_store(url, on_error="fail_open")
        _, _, admin = await serve(aiohttp_client, replace(settings, store=store))
        await readiness(admin, 200)
    body = await readiness(admin, 200)  # it still serves calls, so it stays in the balancer
    assert "store" not in body["checks"]


async def test_not_ready_when_a_fail_closed_audit_file_cannot_be_written(
    aiohttp_client: AiohttpClient, settings: Settings, tmp_path: Path
) -> None:
    audit = AuditSettings(file=str(tmp_path / "no-such-dir" / "a.jsonl"), on_error="fail_closed")
    app, _, admin = await serve(aiohttp_client, replace(settings, audit=audit))
    for _ in range(500):  # the writer thread's first write (its chain_start) fails
        if not app[AUDIT].healthy:
            break
        await asyncio.sleep(0.01)
    body = await readiness(admin, 503)
    assert body["checks"]["audit"] is False


async def test_admin_endpoints_are_not_on_the_callers_port(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    _, gw, _ = await serve(aiohttp_client, settings)
    for path in ("/healthz", "/readyz", "/metrics"):
        response = await gw.get(path)
        assert response.status in (404, 405)


async def test_readiness_follows_the_fleets_token_not_this_processs_own_login(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    """Replica B's own login is rejected (a bad password on one pod): degraded while no replica
    has a token; once replica A has put one in the shared store, B is fully ready and serves
    with A's token, without logging in."""
    with redis_server() as url:
        store = _redis_store(url, on_error="fail_open")
        wrong = {"oma": replace(settings.upstreams["oma"], password=Secret("not-the-password"))}
        _, b_gw, b_admin = await serve(aiohttp_client, replace(settings, store=store,
                                                                 upstreams=wrong))  # fmt: skip
        alone = await until_degraded(b_admin)
        # B's rejection started the fleet-wide login back-off (custody): let it lapse, as it does
        # after its delay, so that replica A's login is the next one tried.
        raw = Redis.from_url(url)
        for key in [k async for k in raw.scan_iter("*login*")]:
            await raw.delete(key)
        await raw.aclose()
        await serve(aiohttp_client, replace(settings, store=store))  # replica A
        with_fleet = await readiness(b_admin, 200)
        while with_fleet["degraded"]:  # A's login lands in the store
            with_fleet = await readiness(b_admin, 200)
        answer = await b_gw.post("/api/get_user", json={"user": "x@demo.example"},
                                 headers=bearer("billing"))  # fmt: skip
    assert "upstream:oma" in alone["degraded"]
    assert with_fleet["checks"]["upstream:oma"] is True and with_fleet["reasons"] == {}
    assert answer.status == 200
