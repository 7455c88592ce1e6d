"""Every metric the gateway exports, with its unit and bounded labels, built on one registry.

Label values come only from bounded sets: configured callers, OMA method names from the catalogue
or the caller's allowlist, fixed outcome words. Anything else collapses to "other", so a caller
cannot grow the series count by sending made-up names.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from .call import Call

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
)  # fmt: skip


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "oma_gateway_requests",
            "Calls answered, by caller, method and outcome.",
            ["caller", "method", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "oma_gateway_request_duration_seconds",
            "Time from request to answer, as the caller sees it.",
            ["caller"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, call: Call) -> None:
        caller = call.caller or "unauthenticated"
        self.requests.labels(caller, call.method or "other", call.gateway_error or "ok").inc()
        if call.duration is not None:
            self.latency.labels(caller).observe(call.duration)
