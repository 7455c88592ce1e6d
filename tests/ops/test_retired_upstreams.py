"""Reload retires an upstream's client only after the calls that hold it have finished."""

from __future__ import annotations

import asyncio
import gc
from dataclasses import replace

from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient
from structlog.testing import capture_logs

from gateway.app import GATEWAY, create_app
from gateway.sandbox import Sandbox
from gateway.sandbox.faults import Fault
from gateway.settings import Settings

from ..support import bearer


async def reached_the_sandbox(oma: Sandbox, method: str) -> None:
    """Until the sandbox has recorded `method` (a fixed sleep is too short on a loaded machine)."""
    for _ in range(500):
        if any(r.method == method for r in oma.requests):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{method} never reached the sandbox")


def with_timeout(settings: Settings, timeout: float) -> Settings:
    upstream = replace(settings.upstreams["oma"], timeout=timeout)
    return replace(settings, upstreams={"oma": upstream})


async def test_a_call_in_flight_finishes_on_the_retired_client_which_closes_after_it(
    aiohttp_client: AiohttpClient, oma: Sandbox, settings: Settings
) -> None:
    oma.faults.latency = Fault(methods={"echo"}, seconds=0.5)
    client: TestClient = await aiohttp_client(create_app(settings))  # type: ignore[type-arg]
    gateway = client.app[GATEWAY]
    old = gateway.custodies["oma"]
    with capture_logs() as logs:
        in_flight = asyncio.create_task(
            client.post("/api/echo", json={"n": 1}, headers=bearer("billing"))
        )
        await reached_the_sandbox(oma, "echo")  # it now waits there, through `old`
        gateway.reload(with_timeout(settings, 3.0))
        gc.collect()
        await asyncio.sleep(0.05)
        retired_early = any(e["event"] == "upstream_client_retired" for e in logs)
        response = await in_flight
        status = response.status
        response.release()
        del response, in_flight
        gc.collect()
        await asyncio.sleep(0.05)
    assert gateway.custodies["oma"] is not old
    assert not retired_early
    assert status == 200
    assert [e["upstream"] for e in logs if e["event"] == "upstream_client_retired"] == ["oma"]


async def test_reloads_that_keep_an_upstream_keep_its_client(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    client: TestClient = await aiohttp_client(create_app(settings))  # type: ignore[type-arg]
    gateway = client.app[GATEWAY]
    kept = gateway.custodies["oma"]
    with capture_logs() as logs:
        for _ in range(5):
            gateway.reload(replace(settings, max_body=1024))
        gc.collect()
        await asyncio.sleep(0.05)
        answer = await client.post("/api/echo", json={}, headers=bearer("billing"))
    assert gateway.custodies["oma"] is kept
    assert answer.status == 200
    assert not [e for e in logs if e["event"] == "upstream_client_retired"]
