"""Trace ids the gateway makes up for calls without `traceparent`, and the trace context it
passes on to OMA (gateway.tracing)."""

from __future__ import annotations

import os
import re

from gateway.sandbox import Sandbox
from gateway.tracing import new_trace_id, parse_traceparent, start_call

from ..support import Client, bearer


def test_made_up_trace_ids_are_distinct_valid_w3c_ids() -> None:
    ids = [new_trace_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) and i != "0" * 32 for i in ids)
    assert all(parse_traceparent(f"00-{i}-00f067aa0ba902b7-01") is not None for i in ids[:100])
    assert re.fullmatch(r"[0-9a-f]{32}", start_call({}).trace_id)


def test_a_forked_child_draws_other_ids_than_its_parent() -> None:
    """Without a reseed at fork the child would repeat the parent's next ids exactly."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent, and out without pytest's cleanup
        os.write(write, new_trace_id().encode())
        os._exit(0)
    os.close(write)
    parent = new_trace_id()
    with os.fdopen(read, "rb") as pipe:
        child = pipe.read().decode()
    os.waitpid(pid, 0)
    assert re.fullmatch(r"[0-9a-f]{32}", child) and child != parent


async def test_without_an_exporter_the_callers_trace_context_reaches_oma_unchanged(
    gw: Client, oma: Sandbox
) -> None:
    """An intermediary that records no span passes `traceparent` and `tracestate` on as they
    came (W3C Trace Context); a call without them gets none: a made-up id stays in the logs."""
    traced = {"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01", "tracestate": "vendor=x"}
    for extra in (traced, {}, {"traceparent": "not-a-traceparent", "tracestate": "vendor=x"}):
        answer = await gw.post(
            "/api/get_user",
            json={"user": "alice@demo.example"},
            headers={**bearer("billing"), **extra},
        )
        assert answer.status == 200
    seen = [(r.traceparent, r.tracestate) for r in oma.requests if r.method == "get_user"]
    assert seen == [(traced["traceparent"], "vendor=x"), (None, None), (None, None)]
