"""The Limiter contract, run against memory:// and a real Redis alike."""

from __future__ import annotations

import asyncio

from gateway.settings import RateSpec
from gateway.store import LimitRule, Store


def rule(name: str, rate: float, burst: int, *, shadow: bool = False) -> LimitRule:
    return LimitRule("caller", f"{{oma}}:caller:{name}", RateSpec(rate, burst, shadow))


async def test_a_burst_is_admitted_then_the_next_call_is_denied(store: Store) -> None:
    rules = [rule("a", 1.0, 5)]
    answers = [await store.limiter.check(rules) for _ in range(6)]
    assert [d.allowed for d in answers] == [True] * 5 + [False]
    assert [d.states[0].remaining for d in answers[:5]] == [4, 3, 2, 1, 0]
    assert 0.9 < answers[5].retry_after <= 1.0
    assert not answers[5].degraded


async def test_a_denied_caller_passes_again_once_the_rate_allows(store: Store) -> None:
    rules = [rule("a", 20.0, 1)]
    assert (await store.limiter.check(rules)).allowed
    assert not (await store.limiter.check(rules)).allowed
    await asyncio.sleep(0.06)
    assert (await store.limiter.check(rules)).allowed


async def test_a_call_denied_by_one_limit_consumes_none_of_the_others(store: Store) -> None:
    tight, loose = rule("tight", 1.0, 1), rule("loose", 1.0, 10)
    assert (await store.limiter.check([tight, loose])).allowed
    denied = await store.limiter.check([tight, loose])
    assert not denied.allowed
    assert [s.allowed for s in denied.states] == [False, True]
    # loose spent one of its ten on the first call only: the denied call took nothing from it.
    assert (await store.limiter.check([loose])).states[0].remaining == 8


async def test_a_shadow_limit_reports_a_denial_without_denying(store: Store) -> None:
    shadow, enforced = rule("shadow", 1.0, 1, shadow=True), rule("enforced", 1.0, 10)
    await store.limiter.check([shadow, enforced])
    decision = await store.limiter.check([shadow, enforced])
    assert decision.allowed
    assert [s.rule for s in decision.shadow_denied] == [shadow]
    assert decision.retry_after == 0.0
    assert decision.states[1].remaining == 8


async def test_limits_with_different_keys_are_independent(store: Store) -> None:
    await store.limiter.check([rule("a", 1.0, 1)])
    assert not (await store.limiter.check([rule("a", 1.0, 1)])).allowed
    assert (await store.limiter.check([rule("b", 1.0, 1)])).allowed


async def test_concurrent_checks_admit_exactly_the_burst(store: Store) -> None:
    rules = [rule("a", 0.1, 10)]
    answers = await asyncio.gather(*(store.limiter.check(rules) for _ in range(50)))
    assert sum(d.allowed for d in answers) == 10
