"""`python -m gateway.sandbox` as a real process, driven over HTTP and stopped by signals."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

REPO = Path(__file__).resolve().parents[2]
ADMIN = {"user": "admin@demo.adm", "password": "demo-password"}


class Running:
    def __init__(self, process: asyncio.subprocess.Process, url: str, banner: str) -> None:
        self.process = process
        self.url = url
        self.banner = banner

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        return await asyncio.wait_for(self.process.wait(), 5)


@asynccontextmanager
async def sandbox_process(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[Running]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.sandbox",
        "--listen",
        "127.0.0.1:0",
        *args,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        banner = (await asyncio.wait_for(process.stdout.readline(), 15)).decode()
        found = re.search(r"(http://\S+)/api", banner)
        assert found, banner
        yield Running(process, found.group(1), banner)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def post(session: aiohttp.ClientSession, url: str, **body: object) -> tuple[int, str]:
    async with session.post(url, json=body) as response:
        return response.status, await response.text()


async def test_process_serves_oma_and_exits_0_on_sigterm() -> None:
    async with sandbox_process() as running, aiohttp.ClientSession(running.url) as session:
        async with session.post("/api/authenticate", json={"credentials": ADMIN}) as response:
            assert response.status == 200
            assert await response.json() == {"success": True}
        assert await running.stop(signal.SIGTERM) == 0


async def test_process_exits_0_on_sigint() -> None:
    async with sandbox_process() as running:
        assert await running.stop(signal.SIGINT) == 0


async def test_admin_login_comes_from_flags_and_the_password_from_the_environment() -> None:
    env = {"SANDBOX_PASSWORD": "from-the-env"}
    async with (
        sandbox_process("--user", "gw@example.adm", env=env) as running,
        aiohttp.ClientSession(running.url) as session,
    ):
        assert "from-the-env" not in running.banner
        good = {"user": "gw@example.adm", "password": "from-the-env"}
        _, text = await post(session, "/api/authenticate", credentials=good)
        assert '"success":true' in text
        _, text = await post(session, "/api/authenticate", credentials=ADMIN)
        assert '"error_number":1' in text


async def test_fault_flags_apply_with_their_method_and_count_limits() -> None:
    flags = ("--fail-500", "--fault-methods", "get_user", "--fault-times", "1")
    async with sandbox_process(*flags) as running, aiohttp.ClientSession(running.url) as session:
        body = {"credentials": ADMIN, "user": "bob@demo.example"}
        assert (await post(session, "/api/authenticate", **body))[0] == 200
        assert (await post(session, "/api/get_user", **body))[0] == 500
        assert (await post(session, "/api/get_user", **body))[0] == 200


async def test_hung_call_is_dropped_and_the_process_still_exits_promptly() -> None:
    async with sandbox_process("--hang") as running, aiohttp.ClientSession(running.url) as session:
        call = asyncio.create_task(post(session, "/api/authenticate", credentials=ADMIN))
        await asyncio.sleep(0.3)
        assert not call.done()
        assert await running.stop(signal.SIGTERM) == 0
        with pytest.raises(aiohttp.ClientConnectionError):
            await call


async def test_manual_clock_flag_enables_the_clock_endpoint() -> None:
    async with (
        sandbox_process("--manual-clock") as running,
        aiohttp.ClientSession(running.url) as session,
    ):
        status, text = await post(session, "/_sandbox/clock", advance=60)
        assert (status, text) == (200, '{"now":1700000060.0}')


async def test_listen_address_without_a_port_is_a_usage_error() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.sandbox",
        "--listen",
        "localhost",
        cwd=REPO,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 2
    assert b"HOST:PORT" in stderr


async def test_role_flag_gives_the_configured_login_that_role() -> None:
    async with (
        sandbox_process("--role", "company_token_only") as running,
        aiohttp.ClientSession(running.url) as session,
    ):
        assert "role company_token_only" in running.banner
        sso = {"user": "bob@demo.example", "reason": "webmail", "type": "sso"}
        _, minted = await post(session, "/api/generate_token", credentials=ADMIN, **sso)
        assert '"success":true' in minted
        _, read = await post(session, "/api/get_user", credentials=ADMIN, user="bob@demo.example")
        assert '"error_number":4' in read
