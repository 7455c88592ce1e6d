"""What every fleet test starts from: the sandbox process, an HTTP client, a redis-server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from ..store.outage import RedisProcess
from .fleet import sandbox_process


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[str]:
    with sandbox_process(tmp_path) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        yield session


@pytest.fixture
def redis_process() -> Iterator[RedisProcess]:
    process = RedisProcess()
    process.start()
    yield process
    process.kill()
