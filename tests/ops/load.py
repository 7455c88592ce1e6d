"""A bounded load of real calls: concurrent loops posting until told to stop, every answer kept."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from ..support import bearer


@dataclass
class Load:
    url: str
    caller: str = "billing"
    concurrency: int = 8
    statuses: Counter[int | str] = field(default_factory=Counter)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def failures(self) -> int:
        return self.total - self.statuses[200]

    async def run(self, limit: float = 120.0) -> None:
        """Until `stop()` (or `limit` seconds, so a broken test still ends)."""
        async with aiohttp.ClientSession() as session:
            loops = [self._loop(session) for _ in range(self.concurrency)]
            await asyncio.wait_for(asyncio.gather(*loops), limit)

    def stop(self) -> None:
        self._stop.set()

    async def _loop(self, session: aiohttp.ClientSession) -> None:
        while not self._stop.is_set():
            self.statuses[await call(session, self.url, self.caller)] += 1


async def call(session: aiohttp.ClientSession, url: str, caller: str) -> int | str:
    """One `echo` call's HTTP status, or the name of the exception that stopped it."""
    try:
        async with session.post(f"{url}/api/echo", json={"n": 1}, headers=bearer(caller)) as answer:
            await answer.read()
            return answer.status
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return type(exc).__name__
