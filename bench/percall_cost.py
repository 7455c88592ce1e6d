"""What the per-call bookkeeping costs, old against new, in one process (issue 13, scope 2).

    .venv/bin/python -m bench.percall_cost [--old REV] [--calls 20000] [--rounds 9]

The old implementations are read from git revision REV (default: the commit before metrics were
tallied at scrape time) and run beside the working tree's, alternating old/new round by round so
drift on this machine hits both alike; each figure is the median over rounds of µs per call.
Measured: `Metrics.observe` of a finished, rate-limited, forwarded `get_user` call (the metrics
bound to a real `Gateway` on `memory://`, so method labels are checked against its config), the
middleware's in-flight inc/dec, a scrape of the same metrics (`generate_latest`), the trace id of
a call without `traceparent` (also beside a thread running Python, as the audit writer does:
there a call that releases the GIL waits to get it back), the made-up request id, the
rate-limit headers of a two-limit call, and the client address of a peer that is no trusted
proxy and of one behind two trusted proxies (an ingress, X-Forwarded-For: client, inner proxy).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import statistics
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from gateway import call as call_module
from gateway import client_address as client_address_module
from gateway import limits as limits_module
from gateway import metrics as metrics_module
from gateway import tracing as tracing_module
from gateway.auth.keys import Identity
from gateway.call import Call
from gateway.runtime import Gateway
from gateway.settings import RateSpec, Settings
from gateway.store import Decision, LimitRule, LimitState
from tests.support import make_settings

BASE = "7e2e584"  # before issue 13's per-call metrics work
Bench = Callable[[int], float | None]  # runs n calls; returns its own seconds, or None


def old_module(rev: str, name: str) -> types.ModuleType:
    """gateway/<name>.py as it was at `rev`, imported as a sibling of today's modules."""
    source = subprocess.run(  # noqa: S603 (fixed tool, our own arguments)
        ["git", "show", f"{rev}:gateway/{name}.py"],  # noqa: S607 (git from PATH)
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    module = types.ModuleType(f"gateway._old_{name}")
    module.__package__ = "gateway"
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:gateway/{name}.py", "exec"), module.__dict__)  # noqa: S102
    return module


def finished_call(settings: Settings) -> Call:
    """A forwarded get_user answered 200, with two limits checked."""
    caller = settings.callers["readonly"]
    rules = (
        LimitRule("caller", "{oma}:caller:readonly", RateSpec(5.0, 3)),
        LimitRule("upstream", "{oma}:upstream", RateSpec(50.0, 100)),
    )
    states = (LimitState(rules[0], True, 2, 0.4, 0.0), LimitState(rules[1], True, 99, 0.02, 0.0))
    decision = Decision(states)
    call = Call("f3a1c2d4e5f60718000000000000002a", "10.0.0.7")
    call.method, call.identity = "get_user", Identity(caller, None)
    call.body = {"user": "alice@demo.example"}
    call.answer = {"success": True, "response": {"user": "alice@demo.example"}}
    call.limits, call.upstream_latency = decision, 0.00312
    call.finish(200)
    call.duration = 0.00347
    return call


def timed(run: Bench, calls: int) -> float:
    """µs per call of `run(calls)`."""
    start = time.perf_counter()
    own = run(calls)
    return (time.perf_counter() - start if own is None else own) / calls * 1e6


def observing(observe: Callable[[Call], None], call: Call) -> Bench:
    def run(n: int) -> None:
        for _ in range(n):
            observe(call)

    return run


def in_flight(gauge: Any) -> Bench:
    def run(n: int) -> None:
        inc, dec = gauge.inc, gauge.dec
        for _ in range(n):
            inc()
            dec()

    return run


def repeated(function: Callable[[], object]) -> Bench:
    def run(n: int) -> None:
        for _ in range(n):
            function()

    return run


def beside_busy_thread(function: Callable[[], object]) -> Bench:
    """`function` while another thread runs Python (as the audit writer does when it seals):
    a call that releases the GIL may have to wait for it to come back. The clock runs only
    once that thread spins, so its start is not counted."""

    def run(n: int) -> float:
        stop, spinning = threading.Event(), threading.Event()

        def spin() -> None:
            spinning.set()
            while not stop.is_set():
                sum(range(1000))

        thread = threading.Thread(target=spin)
        thread.start()
        spinning.wait()
        try:
            start = time.perf_counter()
            for _ in range(n):
                function()
            return time.perf_counter() - start
        finally:
            stop.set()
            thread.join()

    return run


def scraping(registry: CollectorRegistry) -> Bench:
    def run(n: int) -> None:
        for _ in range(n):
            generate_latest(registry)

    return run


def compare(pairs: dict[str, tuple[Bench, Bench, int]], rounds: int) -> None:
    print(f"{'what':<34} {'old µs':>9} {'new µs':>9} {'new/old':>8}")
    for what, (old, new, calls) in pairs.items():
        olds: list[float] = []
        news: list[float] = []
        for index in range(rounds):
            order = ((old, olds), (new, news)) if index % 2 == 0 else ((new, news), (old, olds))
            for run, into in order:
                into.append(timed(run, calls))
        o, n = statistics.median(olds), statistics.median(news)
        print(f"{what:<34} {o:>9.3f} {n:>9.3f} {n / o:>8.2f}")


async def main(rev: str, calls: int, rounds: int) -> None:
    settings = make_settings("http://127.0.0.1:9/api")
    old_metrics, old_tracing = old_module(rev, "metrics"), old_module(rev, "tracing")
    old_call, old_limits = old_module(rev, "call"), old_module(rev, "limits")
    old_address = old_module(rev, "client_address")
    gateway = Gateway.open(settings)
    try:
        old, new = old_metrics.Metrics(CollectorRegistry()), metrics_module.Metrics()
        old.bind(gateway)
        new.bind(gateway)
        call = finished_call(settings)
        for metrics in (old, new):  # the same series exist in both before the scrapes
            metrics.observe(call)
        decision, trusted = call.limits, settings.trusted_proxies
        ingress = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))
        hop = ["203.0.113.9, 10.0.0.4"]  # the client, then an inner proxy
        assert decision is not None
        pairs = {
            "Metrics.observe (get_user, 200)": (
                observing(old.observe, call), observing(new.observe, call), calls),
            "in_flight inc + dec": (in_flight(old.in_flight), in_flight(new.in_flight), calls),
            "scrape (generate_latest)": (
                scraping(old.registry), scraping(new.registry), max(1, calls // 500)),
            "trace id (no traceparent)": (
                repeated(lambda: old_tracing.start_call({})),
                repeated(lambda: tracing_module.start_call({})), calls),
            "new_trace_id": (
                repeated(old_tracing.new_trace_id), repeated(tracing_module.new_trace_id), calls),
            "new_trace_id, busy thread beside": (
                beside_busy_thread(old_tracing.new_trace_id),
                beside_busy_thread(tracing_module.new_trace_id), max(1, calls // 20)),
            "request id (none sent)": (
                repeated(lambda: old_call.request_id_from(None)),
                repeated(lambda: call_module.request_id_from(None)), calls),
            "ratelimit_headers (2 limits)": (
                repeated(lambda: old_limits.ratelimit_headers(decision)),
                repeated(lambda: limits_module.ratelimit_headers(decision)), calls),
            "client_address (no proxies)": (
                repeated(lambda: old_address.client_address("10.0.0.7", (), trusted)),
                repeated(lambda: client_address_module.client_address("10.0.0.7", (), trusted)),
                calls),
            "client_address (behind an ingress)": (
                repeated(lambda: old_address.client_address("10.0.0.5", hop, ingress)),
                repeated(lambda: client_address_module.client_address("10.0.0.5", hop, ingress)),
                calls),
        }  # fmt: skip
        print(f"old: {rev}, new: working tree; {calls} calls x {rounds} rounds, medians")
        compare(pairs, rounds)
    finally:
        await gateway.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default=BASE, help="git revision of the old implementations")
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    asyncio.run(main(args.old, args.calls, args.rounds))
