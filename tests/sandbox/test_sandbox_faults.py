"""Fault switches as a client sees them, and their method and count limits."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
import pytest

from gateway.sandbox import Fault, Sandbox, serving

from .support import ADMIN, Client, oma

BODY = {"credentials": ADMIN, "user": "bob@demo.example"}


async def status_of(client: Client, method: str = "get_user") -> int:
    response = await client.post(f"/api/{method}", json=BODY)
    await response.read()
    return response.status


async def test_latency_delays_the_answer(client: Client, sandbox: Sandbox) -> None:
    sandbox.faults.latency = Fault(seconds=0.3)
    started = time.monotonic()
    reply = await oma(client, "authenticate")
    assert time.monotonic() - started >= 0.3
    assert reply["success"] is True


async def test_http_500_answers_500(client: Client, sandbox: Sandbox) -> None:
    sandbox.faults.http_500 = Fault()
    assert await status_of(client) == 500


async def test_non_json_answers_200_with_a_body_that_is_not_json(
    client: Client, sandbox: Sandbox
) -> None:
    sandbox.faults.non_json = Fault()
    response = await client.post("/api/get_user", json=BODY)
    assert response.status == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(await response.read())


async def test_reset_drops_the_connection_without_an_answer(
    client: Client, sandbox: Sandbox
) -> None:
    sandbox.faults.reset = Fault(times=1)
    with pytest.raises(aiohttp.ClientConnectionError):
        await client.post("/api/get_user", json=BODY)
    assert await status_of(client) == 200


async def test_hang_never_answers_and_the_handler_ends_when_the_client_leaves(
    sandbox: Sandbox,
) -> None:
    # A production-configured server: aiohttp's test server would cancel the handler itself.
    sandbox.faults.hang = Fault(methods={"get_user"})
    async with serving(sandbox) as url, aiohttp.ClientSession(url) as session:
        tasks_before = len(asyncio.all_tasks())
        with pytest.raises(asyncio.TimeoutError):
            await session.post("/api/get_user", json=BODY, timeout=aiohttp.ClientTimeout(0.3))
        # The server's connection task (and the handler inside it) must finish on its own.
        for _ in range(100):
            if len(asyncio.all_tasks()) <= tasks_before:
                break
            await asyncio.sleep(0.02)
        assert len(asyncio.all_tasks()) <= tasks_before
        async with session.post("/api/authenticate", json=BODY) as response:
            assert response.status == 200


async def test_hung_call_is_dropped_when_the_server_stops(sandbox: Sandbox) -> None:
    sandbox.faults.hang = Fault()
    async with aiohttp.ClientSession() as session:
        async with serving(sandbox) as url:
            call = asyncio.create_task(session.post(f"{url}/api/get_user", json=BODY))
            await asyncio.sleep(0.2)
            assert not call.done()
            started = time.monotonic()
        assert time.monotonic() - started < 2
        with pytest.raises(aiohttp.ClientConnectionError):
            await call


async def test_fault_limited_to_methods_spares_the_others(client: Client, sandbox: Sandbox) -> None:
    sandbox.faults.http_500 = Fault(methods={"get_user"})
    assert await status_of(client, "authenticate") == 200
    assert await status_of(client, "get_user") == 500


async def test_fault_limited_by_times_stops_after_that_many(
    client: Client, sandbox: Sandbox
) -> None:
    sandbox.faults.http_500 = Fault(methods={"get_user"}, times=2)
    assert await status_of(client, "authenticate") == 200
    assert [await status_of(client) for _ in range(3)] == [500, 500, 200]


async def test_first_breaking_fault_wins_and_others_keep_their_budget(
    client: Client, sandbox: Sandbox
) -> None:
    sandbox.faults.http_500 = Fault(times=1)
    sandbox.faults.non_json = Fault(times=1)
    first = await client.post("/api/get_user", json=BODY)
    second = await client.post("/api/get_user", json=BODY)
    assert (first.status, second.content_type) == (500, "text/html")
    assert await status_of(client) == 200


async def test_reject_logins_limited_by_times(client: Client, sandbox: Sandbox) -> None:
    sandbox.faults.reject_logins = Fault(methods={"authenticate"}, times=1)
    assert (await oma(client, "get_user", user="bob@demo.example"))["success"] is True
    assert (await oma(client, "authenticate"))["error_number"] == 1
    assert (await oma(client, "authenticate"))["success"] is True


async def test_faulted_calls_are_still_recorded(client: Client, sandbox: Sandbox) -> None:
    sandbox.faults.http_500 = Fault()
    await status_of(client)
    assert [entry.method for entry in sandbox.requests] == ["get_user"]


async def test_faults_switch_over_http(client: Client, sandbox: Sandbox) -> None:
    switches = {"http_500": {"methods": ["get_user"], "times": 1}, "latency": 0.01}
    response = await client.post("/_sandbox/faults", json=switches)
    assert response.status == 200
    state = await response.json()
    assert state["http_500"] == {"methods": ["get_user"], "times": 1, "seconds": 0.0}
    assert sandbox.faults.latency == Fault(seconds=0.01)
    assert [await status_of(client) for _ in range(2)] == [500, 200]
    await client.post("/_sandbox/faults", json={"latency": None})
    assert sandbox.faults.latency is None


async def test_bad_fault_switch_over_http_is_400_and_changes_nothing(
    client: Client, sandbox: Sandbox
) -> None:
    body = {"http_500": True, "hang": {"times": -1}}
    response = await client.post("/_sandbox/faults", json=body)
    assert response.status == 400
    assert sandbox.faults.http_500 is None
    unknown = await client.post("/_sandbox/faults", json={"explode": True})
    assert unknown.status == 400


async def test_faults_can_be_read_over_http(client: Client, sandbox: Sandbox) -> None:
    sandbox.faults.hang = Fault(times=3)
    state = await (await client.get("/_sandbox/faults")).json()
    assert state["hang"] == {"methods": None, "times": 3, "seconds": 0.0}
    assert state["reset"] is None
