"""Per-call tallies: rendered exactly as prometheus_client renders the same counts, and a scrape
from another thread sees every call whole (gateway.metrics_calls)."""

from __future__ import annotations

import re
import threading

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.auth.keys import Identity
from gateway.call import Call
from gateway.metrics import LATENCY_BUCKETS, Metrics
from gateway.metrics_calls import CallCollector, CounterTally, HistogramTally, Tallies

from ..support import make_settings

_CREATED = re.compile(r"^(\S+_created(?:\{[^}]*\})?) \S+$", re.MULTILINE)


def _without_created_times(text: str) -> str:
    """`_created` is each series' birth time: the two sides are born microseconds apart."""
    return _CREATED.sub(r"\1 T", text)


def test_the_exposition_is_what_prometheus_client_renders_for_the_same_counts() -> None:
    counter = CounterTally("t_calls", "Calls, by who and what.", ["who", "what"])
    plain = CounterTally("t_plain", "An unlabelled counter.")
    histogram = HistogramTally("t_seconds", "Seconds, by who.", LATENCY_BUCKETS, ["who"])
    bare = HistogramTally("t_bare_seconds", "An unlabelled histogram.", (0.1, 1.0))
    ours = CollectorRegistry()
    ours.register(CallCollector(Tallies([counter, plain, histogram, bare])))
    reference = CollectorRegistry()
    r_counter = Counter("t_calls", "Calls, by who and what.", ["who", "what"], registry=reference)
    r_plain = Counter("t_plain", "An unlabelled counter.", registry=reference)
    r_histogram = Histogram("t_seconds", "Seconds, by who.", ["who"], buckets=LATENCY_BUCKETS,
                            registry=reference)  # fmt: skip
    r_bare = Histogram("t_bare_seconds", "An unlabelled histogram.", buckets=(0.1, 1.0),
                       registry=reference)  # fmt: skip
    counter.touch(("zero", "x"))  # exported from 0, like labels() without inc()
    r_counter.labels("zero", "x")
    for who, what in [("a", "x"), ("b", "y"), ("a", "x"), ('q"uo\\te', "\n")]:
        counter.inc((who, what))
        r_counter.labels(who, what).inc()
    plain.inc(())
    r_plain.inc()
    # On a bound (le is inclusive), between bounds, beyond the last, zero, a long wait.
    for who, seconds in [("a", 0.00005), ("a", 0.0003), ("b", 25.0), ("a", 0.0), ("b", 20.0)]:
        histogram.observe((who,), seconds)
        r_histogram.labels(who).observe(seconds)
        bare.observe((), seconds)
        r_bare.observe(seconds)
    expected = _without_created_times(generate_latest(reference).decode())
    assert _without_created_times(generate_latest(ours).decode()) == expected
    assert "t_calls_created" in expected and "t_bare_seconds_created" in expected


def _finished(identity: Identity, upstream_latency: float) -> Call:
    call = Call("r", "10.0.0.1")
    call.method, call.identity = "get_user", identity
    call.answer = {"success": True}
    call.upstream_latency = upstream_latency
    call.finish(200)
    return call


def _totals(text: str) -> tuple[float, float, float]:
    """(calls counted, request latencies observed, upstream latencies observed) in one scrape."""
    sums = {"oma_gateway_requests_total": 0.0, "oma_gateway_request_duration_seconds_count": 0.0,
            "oma_gateway_upstream_duration_seconds_count": 0.0}  # fmt: skip
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in sums:
                sums[sample.name] += sample.value
    requests, latencies, upstream = sums.values()
    return requests, latencies, upstream


def test_a_scrape_in_another_thread_sees_every_call_whole() -> None:
    """The admin port scrapes in a worker thread while the loop thread counts: each scrape must
    stand at a call boundary, where every call counted is in both latency histograms too."""
    settings = make_settings("http://127.0.0.1:9/api")
    metrics = Metrics(CollectorRegistry())
    calls = [_finished(Identity(c, None), 0.001) for c in settings.callers.values()]
    scraped: list[tuple[float, float, float]] = []
    done = threading.Event()

    def scrape() -> None:
        while not done.is_set() or not scraped:
            scraped.append(_totals(generate_latest(metrics.registry).decode()))

    scraper = threading.Thread(target=scrape)
    scraper.start()
    try:
        for _ in range(20_000):
            for call in calls:
                metrics.observe(call)
    finally:
        done.set()
        scraper.join()
    assert all(requests == latencies == upstream for requests, latencies, upstream in scraped)
    assert _totals(generate_latest(metrics.registry).decode()) == (60_000.0,) * 3
