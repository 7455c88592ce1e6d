"""GCRA arithmetic at the edge: float rounding never refuses a call the limit admits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.settings import RateSpec
from gateway.store.gcra import gcra


@given(
    rate=st.floats(min_value=1e-4, max_value=1e4),
    burst=st.integers(min_value=1, max_value=1000),
    now=st.floats(min_value=0, max_value=2e9),
)
def test_a_fresh_key_always_admits_its_first_call(rate: float, burst: int, now: float) -> None:
    allowed, *_ = gcra(RateSpec(rate, burst), tat=now, now=now)
    assert allowed


def test_a_spent_burst_of_one_refuses_the_next_call() -> None:
    spec = RateSpec(1 / 3600, 1)
    allowed, tat, *_ = gcra(spec, tat=1_700_000_000.25, now=1_700_000_000.25)
    refused, _, remaining, _, retry_after = gcra(spec, tat=tat, now=1_700_000_000.5)
    assert allowed and not refused and remaining == 0 and retry_after > 3599
