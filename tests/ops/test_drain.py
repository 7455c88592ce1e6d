"""SIGTERM drains: a real gateway process, a real sandbox that answers slowly, calls in flight."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import aiohttp
import pytest

from .load import call
from .procs import (
    Ports,
    config,
    gateway_process,
    sandbox_process,
    until,
    wait_ready,
    write_config,
)

SLOW_CALLS = 8
LATENCY = "1"  # seconds the sandbox takes over every answer


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
    except ConnectionRefusedError:
        return True
    return False


async def not_ready(admin_url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{admin_url}/readyz") as got:
            return got.status == 503
    except aiohttp.ClientError:
        return False


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_lets_calls_in_flight_finish_refuses_new_ones_and_exits_0(
    tmp_path: Path, workers: int
) -> None:
    with sandbox_process("--latency", LATENCY) as oma:
        ports = Ports()
        document = config(oma, ports, {"billing": ["billing"]}, drain_delay="0s")
        path = write_config(tmp_path / "gateway.yaml", document)
        argv = ("serve", "--config", str(path), "--workers", str(workers))
        with gateway_process(*argv) as gateway:
            await asyncio.to_thread(wait_ready, ports.admin_url)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
                slow = [asyncio.create_task(call(session, ports.url, "billing"))
                        for _ in range(SLOW_CALLS)]  # fmt: skip
                await asyncio.sleep(0.4)  # all of them are now waiting on the sandbox
                gateway.signal(signal.SIGTERM)
                await until("/readyz 503", lambda: not_ready(ports.admin_url))
                await until("refusal", lambda: asyncio.to_thread(refuses_connections, ports.listen))
                assert not any(task.done() for task in slow)  # refused while still in flight
                statuses = await asyncio.gather(*slow)
            code = await asyncio.to_thread(gateway.wait, 15)
    print(f"workers={workers}: calls in flight at SIGTERM answered {statuses}")
    assert statuses == [200] * SLOW_CALLS
    assert code == 0, gateway.output()
    assert gateway.count("gateway_stopped") == workers


async def test_drain_delay_keeps_accepting_while_readiness_is_already_false(
    tmp_path: Path,
) -> None:
    with sandbox_process() as oma:
        ports = Ports()
        document = config(oma, ports, {"billing": ["billing"]}, drain_delay="1500ms")
        path = write_config(tmp_path / "gateway.yaml", document)
        with gateway_process("serve", "--config", str(path)) as gateway:
            await asyncio.to_thread(wait_ready, ports.admin_url)
            gateway.signal(signal.SIGTERM)
            await until("/readyz 503", lambda: not_ready(ports.admin_url))
            async with aiohttp.ClientSession() as session:
                assert await call(session, ports.url, "billing") == 200  # a balancer's straggler
            await until("refusal", lambda: asyncio.to_thread(refuses_connections, ports.listen))
            assert await asyncio.to_thread(gateway.wait, 15) == 0
