"""Fixtures that cross real boundaries: the sandbox and the gateway as real HTTP servers, and a
real redis-server process. Nothing of the project's own is mocked."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpClient, AiohttpServer

from gateway.app import create_app
from gateway.sandbox import ManualClock, Sandbox, create_sandbox_app
from gateway.settings import Settings

from .support import Client, make_settings, redis_server


@pytest.fixture
def oma_clock() -> ManualClock:
    """The sandbox's clock, starting at the real time so the gateway's clock agrees with it."""
    return ManualClock(time.time())


@pytest.fixture
def oma(oma_clock: ManualClock) -> Sandbox:
    return Sandbox(clock=oma_clock)


@pytest.fixture
async def oma_server(aiohttp_server: AiohttpServer, oma: Sandbox) -> TestServer:
    return await aiohttp_server(create_sandbox_app(oma))


@pytest.fixture
def oma_url(oma_server: TestServer) -> str:
    return str(oma_server.make_url("/api"))


@pytest.fixture
def settings(oma_url: str) -> Settings:
    return make_settings(oma_url)


@pytest.fixture
async def gw(aiohttp_client: AiohttpClient, settings: Settings) -> Client:
    """The gateway in-process, served over real HTTP, in front of the real sandbox."""
    return await aiohttp_client(create_app(settings))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url
