"""Repeated authentication failures: throttled per address, never a good key's call."""

from __future__ import annotations

from aiohttp import web
from pytest_aiohttp import AiohttpClient

from gateway.app import create_app
from gateway.authfailures import AuthFailures
from gateway.errors import RateLimited, Unauthenticated
from gateway.settings import Settings

from .support import bearer

BOB = {"user": "bob@demo.example"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failures_beyond_the_budget_become_rate_limited_with_retry_after() -> None:
    clock = Clock()
    throttle = AuthFailures(failures=3, window=60, clock=clock)
    answers = [throttle.failed("10.0.0.1", Unauthenticated()) for _ in range(5)]
    assert [type(a) for a in answers] == [Unauthenticated] * 3 + [RateLimited] * 2
    clock.now += 20
    limited = throttle.failed("10.0.0.1", Unauthenticated())
    assert isinstance(limited, RateLimited) and limited.headers["Retry-After"] == "40"


def test_the_window_ends_and_other_addresses_are_not_affected() -> None:
    clock = Clock()
    throttle = AuthFailures(failures=1, window=10, clock=clock)
    throttle.failed("10.0.0.1", Unauthenticated())
    assert isinstance(throttle.failed("10.0.0.1", Unauthenticated()), RateLimited)
    assert isinstance(throttle.failed("10.0.0.2", Unauthenticated()), Unauthenticated)
    clock.now += 10
    assert isinstance(throttle.failed("10.0.0.1", Unauthenticated()), Unauthenticated)


def test_tracked_addresses_are_bounded() -> None:
    throttle = AuthFailures(failures=1, max_addresses=100)
    for i in range(1000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}", Unauthenticated())
    assert len(throttle._seen) == 100


async def test_a_good_key_is_served_from_an_address_that_keeps_failing(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    """One address, as a NAT shared by a bad client and a good caller."""
    app: web.Application = create_app(settings)
    gw = await aiohttp_client(app)
    statuses = []
    for _ in range(25):
        bad = await gw.post("/api/get_user", json=BOB, headers={"Authorization": "Bearer nope"})
        statuses.append(bad.status)
    assert statuses[:20] == [401] * 20 and statuses[20:] == [429] * 5
    refused = await bad.json()
    assert refused["gateway_error"] == "rate_limited" and "Retry-After" in bad.headers
    good = await gw.post("/api/get_user", json=BOB, headers=bearer("billing"))
    assert good.status == 200 and (await good.json())["success"] is True
