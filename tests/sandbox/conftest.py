from __future__ import annotations

import pytest
from pytest_aiohttp import AiohttpClient

from gateway.sandbox import ManualClock, Sandbox, create_sandbox_app

from .support import Client


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sandbox(clock: ManualClock) -> Sandbox:
    return Sandbox(clock=clock)


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, sandbox: Sandbox) -> Client:
    return await aiohttp_client(create_sandbox_app(sandbox))
