"""Every metric the gateway exports, with its unit and bounded labels, built on one registry.

Label values come only from bounded sets: configured callers and upstreams, OMA method names from
the catalogue or named exactly in an allowlist, fixed outcome words, error numbers 0-7. Anything
else collapses to "other", so a caller cannot grow the series count by sending made-up names.

Per-call counters and histograms are fed by `observe` (a gateway observer) as plain numbers and
rendered at scrape time (gateway.metrics_calls: no lock per call). State that lives elsewhere
(session custody, the store, the audit writer) is read at scrape time by `_StateCollector`, with
`getattr` defaults for store attributes that not every store has.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Gauge, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import __version__
from .audit.record import result
from .call import Call
from .catalog import catalogue
from .errors import GatewayError
from .identity import revision
from .metrics_calls import CallCollector, CounterTally, GaugeTally, HistogramTally, Tallies
from .metrics_upstream import upstream_families

if TYPE_CHECKING:
    from .audit import AuditTrail
    from .runtime import Gateway

__all__ = ["FAILED_OUTCOMES", "LATENCY_BUCKETS", "Metrics"]

#: From 50us, so the gateway's own sub-millisecond overhead resolves, to the 20s upstream timeout.
LATENCY_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 20.0,
)  # fmt: skip
OTHER = "other"
_ERROR_NUMBERS = frozenset(range(8))  # OMA's documented error numbers
_BREAKER_STATES = frozenset({"closed", "open", "half_open"})


def _codes(cls: type[GatewayError]) -> set[str]:
    return {cls.code}.union(*(_codes(sub) for sub in cls.__subclasses__()))


_OUTCOMES = frozenset(
    {"success", "partial", "oma_error", "not_found", "cancelled", "upstream_rejected",
     *_codes(GatewayError)}
)  # fmt: skip


def _failing(cls: type[GatewayError]) -> set[str]:
    own = {cls.code} if cls.status >= 500 else set()
    return own.union(*(_failing(sub) for sub in cls.__subclasses__()))


#: The outcomes that spend the error budget: the gateway's own 5xx, and calls cut by shutdown.
FAILED_OUTCOMES = frozenset({"cancelled", *_failing(GatewayError)})
_DECISIONS = ("allowed", "denied", "shadow_denied", "degraded")


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.gateway: Gateway | None = None
        self.audit: AuditTrail | None = None
        self._methods: tuple[object, frozenset[str]] = (None, frozenset())
        self.requests = CounterTally(
            "oma_gateway_requests", "Calls answered, by caller, method and outcome.",
            ["caller", "method", "outcome"],
        )  # fmt: skip
        self.latency = HistogramTally(
            "oma_gateway_request_duration_seconds", "Time from request to answer, per caller.",
            LATENCY_BUCKETS, ["caller"],
        )  # fmt: skip
        self.upstream_latency = HistogramTally(
            "oma_gateway_upstream_duration_seconds", "Time spent waiting for OMA, per upstream.",
            LATENCY_BUCKETS, ["upstream"],
        )  # fmt: skip
        self.added_latency = HistogramTally(
            "oma_gateway_added_duration_seconds",
            "What the gateway adds to a forwarded call: total time minus time waiting for OMA.",
            LATENCY_BUCKETS,
        )  # fmt: skip
        self.oma_errors = CounterTally(
            "oma_gateway_oma_errors", "OMA answers with success false, by error_number.",
            ["method", "error_number"],
        )  # fmt: skip
        self.bulk_items = CounterTally(
            "oma_gateway_bulk_items", "Per-object results of bulk methods (ids[]).",
            ["method", "result"],
        )  # fmt: skip
        self.ratelimit = CounterTally(
            "oma_gateway_ratelimit_decisions",
            "Rate-limit decisions: allowed, denied, shadow_denied (would deny), degraded.",
            ["caller", "decision"],
        )  # fmt: skip
        self.resent = CounterTally(
            "oma_gateway_resent", "Calls sent again after OMA refused a stale session token.",
            ["upstream"],
        )  # fmt: skip
        self.failed = CounterTally(
            "oma_gateway_failed_requests",
            "Calls answered with a gateway 5xx (or cut by shutdown), by caller and outcome; every "
            "configured caller and failing outcome is exported from 0, so increase() sees the "
            "first failure.", ["caller", "outcome"],
        )  # fmt: skip
        self._initialised: object = None
        #: `inc()` / `dec()` by the app's middleware around every call (a plain float, no lock).
        self.in_flight = GaugeTally(
            "oma_gateway_requests_in_flight", "Calls being served right now."
        )
        self._tallies = Tallies([
            self.requests, self.latency, self.upstream_latency, self.added_latency,
            self.oma_errors, self.bulk_items, self.ratelimit, self.resent, self.failed,
            self.in_flight,
        ])  # fmt: skip
        r = self.registry
        r.register(CallCollector(self._tallies))  # first, where prometheus' own metrics were
        build = Gauge(
            "oma_gateway_build_info", "The running build (value is always 1).",
            ["version", "python", "revision"], registry=r,
        )  # fmt: skip
        build.labels(__version__, platform.python_version(), revision()).set(1)
        # process_* (RSS, CPU, FDs, start time) and python_info: with several workers the
        # supervisor's /metrics labels each worker's copy with `worker`, like every series.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        r.register(_StateCollector(self))

    def bind(self, gateway: Gateway, audit: AuditTrail | None = None) -> None:
        """Read this gateway's state at scrape time and observe its calls."""
        self.gateway, self.audit = gateway, audit
        gateway.observers.append(self.observe)
        self.initialise()  # and again at scrape time, for a reloaded config's new names

    def initialise(self) -> None:
        """Export every bounded label set of the running config at 0 (once per config): a series
        born at its first increment hides that increment from increase() and rate()."""
        settings = None if self.gateway is None else self.gateway.runtime.settings
        if settings is None or settings is self._initialised:
            return
        self._initialised = settings
        for caller in (*settings.callers, "unauthenticated"):
            self.latency.touch((caller,))
            for outcome in FAILED_OUTCOMES:
                self.failed.touch((caller, outcome))
            for decision in _DECISIONS:
                self.ratelimit.touch((caller, decision))
        for upstream in settings.upstreams:
            self.upstream_latency.touch((upstream,))
            self.resent.touch((upstream,))

    def observe(self, call: Call) -> None:
        """Plain additions on the loop thread; `seq` odd meanwhile, so a scrape waits for the
        call's updates to be whole (gateway.metrics_calls)."""
        tallies = self._tallies
        tallies.seq += 1
        try:
            self._count(call)
        finally:
            tallies.seq += 1

    def _count(self, call: Call) -> None:
        identity = call.identity
        if identity is None:
            caller, upstream = "unauthenticated", OTHER
        else:
            caller, upstream = identity.caller.name, identity.caller.upstream or OTHER
        method = self.method_label(call.method)
        outcome = _outcome(call)
        self.requests.inc((caller, method, outcome))
        if outcome in FAILED_OUTCOMES:
            self.failed.inc((caller, outcome))
        duration = call.duration
        if duration is not None:
            self.latency.observe((caller,), duration)
            waited = call.upstream_latency
            if waited:
                self.upstream_latency.observe((upstream,), waited)
                self.added_latency.observe((), max(0.0, duration - waited))
        if call.resent:
            self.resent.inc((upstream,))
        if call.answer is not None:
            self._answer(call.answer, method)
        self._limits(call, caller)

    def method_label(self, method: str | None) -> str:
        """The method's own name when the catalogue or an allowlist names it, else "other"."""
        return method if method is not None and method in self._known() else OTHER

    def _known(self) -> frozenset[str]:
        """The catalogue's names and the exact names in any allowlist (patterns are no names),
        as one set, built once per config."""
        settings = None if self.gateway is None else self.gateway.runtime.settings
        if self._methods[0] is not settings or not self._methods[1]:
            names = set(catalogue())
            if settings is not None:
                names.update(m for c in settings.callers.values() for m in c.allow if _exact(m))
            self._methods = (settings, frozenset(names))
        return self._methods[1]

    def _answer(self, answer: dict[str, Any], method: str) -> None:
        if answer.get("success") is not True:
            self.oma_errors.inc((method, _error_number(answer.get("error_number"))))
        items = answer.get("ids")
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict):
                word = (
                    "success"
                    if item.get("success")
                    else "error_" + _error_number(item.get("error_number"))
                )
                self.bulk_items.inc((method, word))

    def _limits(self, call: Call, caller: str) -> None:
        if call.gateway_error == "rate_limited":
            self.ratelimit.inc((caller, "denied"))
        decision = call.limits
        if decision is None:
            return
        self.ratelimit.inc((caller, "allowed"))
        if decision.shadow_denied:
            self.ratelimit.inc((caller, "shadow_denied"))
        if decision.degraded:
            self.ratelimit.inc((caller, "degraded"))


def _outcome(call: Call) -> str:
    word = call.gateway_error or result(call)
    return word if word in _OUTCOMES else OTHER


def _error_number(value: object) -> str:
    return str(value) if isinstance(value, int) and value in _ERROR_NUMBERS else OTHER


def _exact(pattern: str) -> bool:
    return not any(c in pattern for c in "*?[")


class _StateCollector(Collector):
    """Gauges and counters read from their owners at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Metric]:
        return []  # names are fixed here; nothing for the registry to check against

    def collect(self) -> Iterator[Metric]:
        self._metrics.initialise()
        gateway = self._metrics.gateway
        if gateway is not None:
            yield from _custody_metrics(gateway)
            yield from upstream_families(gateway)
            yield from _store_metrics(gateway.store)
            yield from _body_budget_metrics(gateway)
            yield _gauge("oma_gateway_draining", "1 while shutting down.", float(gateway.draining))
        if self._metrics.audit is not None:
            yield from _audit_metrics(self._metrics.audit)


def _custody_metrics(gateway: Gateway) -> Iterator[Metric]:
    up = ["upstream"]
    usable = GaugeMetricFamily(
        "oma_gateway_token_usable", "1 when a usable OMA session token is held.", labels=up
    )
    age = GaugeMetricFamily(
        "oma_gateway_token_age_seconds", "Age of the held session token.", labels=up
    )
    left = GaugeMetricFamily(
        "oma_gateway_token_expires_in_seconds", "Time until the held token expires.", labels=up
    )
    last_ok = GaugeMetricFamily(
        "oma_gateway_token_last_refresh_success_timestamp_seconds",
        "When this process last logged in to OMA successfully.", labels=up,
    )  # fmt: skip
    refreshes = CounterMetricFamily(
        "oma_gateway_token_refreshes", "OMA logins (authenticate) by result: ok, rejected, error.",
        labels=[*up, "result"],
    )  # fmt: skip
    waiting = GaugeMetricFamily(
        "oma_gateway_token_waiters", "Calls waiting for a single-flight login now.", labels=up
    )
    waits = CounterMetricFamily(
        "oma_gateway_token_waits", "Calls that waited for a single-flight login.", labels=up
    )
    for name, custody in gateway.custodies.items():
        usable.add_metric([name], float(custody.has_usable_token()))
        if (token_age := custody.token_age()) is not None:
            age.add_metric([name], token_age)
        if (expires_in := custody.token_expires_in()) is not None:
            left.add_metric([name], expires_in)
        if custody.last_login_ok is not None:
            last_ok.add_metric([name], custody.last_login_ok)
        for word in ("ok", "rejected", "error"):
            refreshes.add_metric([name, word], custody.login_results[word])
        waiting.add_metric([name], custody.waiting)
        waits.add_metric([name], custody.waits)
    yield from (usable, age, left, last_ok, refreshes, waiting, waits)


def _body_budget_metrics(gateway: Gateway) -> Iterator[Metric]:
    """`max_unidentified_bodies`: what callers without a header key hold now, and the refusals."""
    yield _gauge(
        "oma_gateway_unidentified_body_bytes",
        "Bytes held now by bodies still arriving for callers not yet identified (no header key).",
        float(gateway.bodies.held),
    )
    yield CounterMetricFamily(
        "oma_gateway_unidentified_bodies_refused",
        "Calls refused because bodies of unidentified callers filled max_unidentified_bodies.",
        value=gateway.bodies.refused,
    )


def _store_metrics(store: object) -> Iterator[Metric]:
    """What the store exposes, if it does: `healthy`, `breaker_state`, and `errors` / `fallbacks`
    as a count or a count per operation (the Redis store has them; the memory store has none)."""
    yield _gauge(
        "oma_gateway_store_healthy",
        "1 while the store answers (always 1 for the in-process store).",
        float(bool(getattr(store, "healthy", True))),
    )
    state = getattr(store, "breaker_state", None)
    if isinstance(state, str):
        breaker = GaugeMetricFamily(
            "oma_gateway_store_breaker_state", "1 for the store breaker's current state.",
            labels=["state"],
        )  # fmt: skip
        for word in _BREAKER_STATES | {state}:
            breaker.add_metric([word], float(word == state))
        yield breaker
    yield _per_operation("oma_gateway_store_errors", "Store calls that failed.", store, "errors")
    yield _per_operation(
        "oma_gateway_store_fallbacks", "Store operations answered in-process instead.",
        store, "fallbacks",
    )  # fmt: skip


def _per_operation(name: str, documentation: str, store: object, attribute: str) -> Metric:
    family = CounterMetricFamily(name, documentation + " By operation.", labels=["operation"])
    counts = getattr(store, attribute, 0)
    by_operation = counts if isinstance(counts, Mapping) else {"all": counts}
    for operation, count in sorted(by_operation.items()):
        family.add_metric([str(operation)], float(count))
    return family


def _audit_metrics(audit: AuditTrail) -> Iterator[Metric]:
    yield _gauge("oma_gateway_audit_healthy",
                 "1 while the audit writer thread is alive and keeping up and the file can be "
                 "written.",
                 float(audit.healthy))  # fmt: skip
    writer = audit.writer
    if writer is None:
        return
    records = CounterMetricFamily(
        "oma_gateway_audit_records", "Audit records written to or lost from the audit file.",
        labels=["result"],
    )  # fmt: skip
    records.add_metric(["written"], writer.written)
    records.add_metric(["lost"], writer.lost)
    yield records
    yield CounterMetricFamily(
        "oma_gateway_audit_write_errors", "Failed writes or fsyncs of the audit file.",
        value=writer.write_errors,
    )  # fmt: skip
    yield _gauge("oma_gateway_audit_queue_depth", "Audit records waiting for the writer.",
                 writer.queue_depth)  # fmt: skip


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
