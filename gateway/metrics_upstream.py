"""Scrape-time metrics of each upstream's hardening: failures by cause, the refresher's survived
errors, damped stale-token reports, per-caller in-flight refusals (read by `metrics`).

Label values are bounded: configured upstreams and callers, and the fixed words of
`failures.CAUSES`. Every series is exported from zero, so `increase()` sees the first event.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, Metric

from .failures import CAUSES

if TYPE_CHECKING:
    from .runtime import Gateway

__all__ = ["upstream_families"]


def upstream_families(gateway: Gateway) -> Iterator[Metric]:
    """Upstream failures by cause, the refresher's survived errors, damped stale-token reports
    and per-caller in-flight refusals; every series starts at zero."""
    up = ["upstream"]
    failures = CounterMetricFamily(
        "oma_gateway_upstream_failures",
        "Failed upstream exchanges by cause (tls, dns, refused, reset, timeout, http_status,"
        " not_json, too_large, redirect, other).", labels=[*up, "cause"],
    )  # fmt: skip
    refresher = CounterMetricFamily(
        "oma_gateway_token_refresher_errors",
        "Unexpected errors the token refresher met and survived.", labels=up,
    )  # fmt: skip
    damped = CounterMetricFamily(
        "oma_gateway_token_invalidations_damped",
        "Stale-token reports answered without a new login (login damping).", labels=up,
    )  # fmt: skip
    refused = CounterMetricFamily(
        "oma_gateway_in_flight_refused",
        "Calls refused because the caller had max_in_flight_per_caller calls in flight.",
        labels=[*up, "caller"],
    )  # fmt: skip
    callers = gateway.runtime.settings.callers.values()
    for name, custody in gateway.custodies.items():
        for cause in CAUSES:
            failures.add_metric([name, cause], custody.client.failures[cause])
        refresher.add_metric([name], custody.refresher_errors)
        damped.add_metric([name], custody.damped)
        for caller in (c.name for c in callers if c.upstream == name):
            refused.add_metric([name, caller], custody.gate.refused[caller])
    yield from (failures, refresher, damped, refused)
