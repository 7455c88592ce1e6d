"""The RateLimit-Policy / RateLimit headers of a decision (draft-ietf-httpapi-ratelimit-headers,
structured-field form), from the real in-process limiter."""

from __future__ import annotations

from gateway.limits import ratelimit_headers
from gateway.settings import RateSpec
from gateway.store import Decision, LimitRule
from gateway.store.memory import MemoryLimiter


def test_each_limit_of_a_decision_is_named_with_its_quota_window_and_what_is_left() -> None:
    rules = (LimitRule("caller", "{oma}:caller:a", RateSpec(5.0, 3)),
             LimitRule("upstream", "{oma}:upstream", RateSpec(0.5, 10)))  # fmt: skip
    limiter = MemoryLimiter()
    first = ratelimit_headers(limiter.check_now(rules, 1000.0))
    second = ratelimit_headers(limiter.check_now(rules, 1000.0))
    assert first == {
        "RateLimit-Policy": '"caller";q=3;w=1, "upstream";q=10;w=20',
        "RateLimit": '"caller";r=2;t=1, "upstream";r=9;t=2',
    }
    assert second["RateLimit-Policy"] == first["RateLimit-Policy"]
    assert second["RateLimit"] == '"caller";r=1;t=1, "upstream";r=8;t=4'


def test_a_reloaded_limit_is_told_as_it_is_now() -> None:
    """A reload builds new rules under the same names: their headers are their own."""
    before = LimitRule("caller", "{oma}:caller:a", RateSpec(5.0, 3))
    after = LimitRule("caller", "{oma}:caller:a", RateSpec(1.0, 30))
    limiter = MemoryLimiter()
    assert ratelimit_headers(limiter.check_now((before,), 0.0))["RateLimit-Policy"] == (
        '"caller";q=3;w=1'
    )
    assert ratelimit_headers(MemoryLimiter().check_now((after,), 0.0))["RateLimit-Policy"] == (
        '"caller";q=30;w=30'
    )


def test_a_decision_without_limits_has_no_headers() -> None:
    assert ratelimit_headers(Decision((), degraded=True)) == {}
