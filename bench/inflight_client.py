"""The in-flight scenario's client: N connections first, then one call on each at once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import orjson

from bench.httpclient import Connection, build_request, connect

CONNECT_CONCURRENCY = 256


@dataclass(frozen=True)
class Outcome:
    ok: int
    errors: int
    seconds: float
    first_error: str


def _is_success(answer: tuple[int, bytes] | BaseException) -> bool:
    if isinstance(answer, BaseException):
        return False
    status, body = answer
    try:
        return status == 200 and orjson.loads(body).get("success") is True
    except (orjson.JSONDecodeError, AttributeError):
        return False


async def _open(port: int, calls: int) -> tuple[list[Connection], list[BaseException]]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one() -> Connection:
        async with gate:
            return await asyncio.wait_for(connect("127.0.0.1", port), 30)

    opened = await asyncio.gather(*(one() for _ in range(calls)), return_exceptions=True)
    conns = [c for c in opened if isinstance(c, Connection)]
    failed = [c for c in opened if isinstance(c, BaseException)]
    return conns, failed


async def fire(
    port: int, path: str, body: bytes, headers: dict[str, str], calls: int, limit_s: float
) -> Outcome:
    """Open `calls` connections, then send one call on each at once; wait for every answer."""
    request = build_request("127.0.0.1", port, path, body, headers)
    conns, failed = await _open(port, calls)
    start = time.perf_counter()
    try:
        answers = await asyncio.wait_for(
            asyncio.gather(*(c.call(request) for c in conns), return_exceptions=True), limit_s
        )
    finally:
        for conn in conns:
            conn.close()
    seconds = time.perf_counter() - start
    ok = sum(_is_success(a) for a in answers)
    bad = [a for a in answers if not _is_success(a)] + list(failed)
    return Outcome(ok, calls - ok, seconds, _describe(bad[0]) if bad else "")


def _describe(answer: tuple[int, bytes] | BaseException) -> str:
    if isinstance(answer, BaseException):
        return f"{type(answer).__name__}: {answer}"[:200]
    return f"HTTP {answer[0]}: {answer[1][:160]!r}"


def run_fire(
    port: int, path: str, body: bytes, headers: dict[str, str], calls: int, timeout: float
) -> Outcome:
    with contextlib.suppress(ImportError):
        import uvloop

        return uvloop.run(fire(port, path, body, headers, calls, timeout))
    return asyncio.run(fire(port, path, body, headers, calls, timeout))
