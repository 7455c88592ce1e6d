"""Trace context for every call (W3C `traceparent` / `tracestate`) and, when configured,
OpenTelemetry spans exported over OTLP/HTTP.

Every call has a trace id: the caller's, from a valid `traceparent`, or a new one. It goes on
every log line and the audit record of the call, spans or not. With `tracing.otlp_endpoint`
(and the `otel` extra installed) the gateway also exports spans: the call (a child of the
caller's span), and inside it the limit check, the OMA login and each upstream exchange. Without
it nothing of OpenTelemetry is imported and a span costs one attribute lookup.

The exporter is process-wide, like the SDK's own tracer provider: `exporting` starts it with the
app and flushes it when the app closes. `span` works as a sync and an async context manager, so
a step is wrapped in one line wherever it sits.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import __version__
from .settings import TracingSettings

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "CallSpan",
    "TraceParent",
    "exporting",
    "parse_traceparent",
    "span",
    "start_call",
    "upstream_headers",
]

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_MAX_TRACESTATE = 512  # W3C: vendors may drop a longer one; we never carry more
_tracer: Any = None  # an opentelemetry Tracer while exporting, else None
_ids = random.Random()  # noqa: S311 (seeded from os.urandom; see new_trace_id)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ids.seed)  # a forked worker draws ids of its own


@dataclass(frozen=True, slots=True)
class TraceParent:
    trace_id: str  # 32 lowercase hex
    span_id: str  # 16 lowercase hex: the caller's span, our call span's parent
    flags: int
    state: str | None = None

    def header(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags:02x}"


def parse_traceparent(value: str | None, state: str | None = None) -> TraceParent | None:
    """The caller's trace context, or None when absent or invalid (then a new trace starts)."""
    match = _TRACEPARENT.match(value.strip()) if value else None
    if match is None or match[1] == "ff":
        return None
    rest = value.strip()[match.end() :] if value else ""
    if (match[1] == "00" and rest) or (rest and not rest.startswith("-")):
        return None  # version 00 has exactly four fields; later versions may add fields
    if set(match[2]) == {"0"} or set(match[3]) == {"0"}:
        return None
    if state is not None and len(state) > _MAX_TRACESTATE:
        state = None
    return TraceParent(match[2], match[3], int(match[4], 16), state)


def new_trace_id() -> str:
    """128 random bits as 32 hex, from a Mersenne Twister seeded from os.urandom (at import,
    and again in a forked child), as the OpenTelemetry SDK's own RandomIdGenerator draws them.

    W3C Trace Context asks of a trace id that it be unique and random (its `random` flag: at
    least the right 56 bits), not that it be secret: it authorises nothing, and the gateway
    sends none to a caller that did not send it first. `secrets.token_hex` made a getrandom()
    syscall per call, with the GIL released around it (a chance for the audit writer thread to
    take it mid-call); a draw from the generator is neither, and cheaper (bench.percall_cost).
    All zeros is an invalid trace id: it becomes 1 (a 2**-128 chance)."""
    return f"{_ids.getrandbits(128) or 1:032x}"


class CallSpan:
    """The trace of one call: its id for logs and audit, and its span when exporting."""

    __slots__ = ("_span", "_token", "parent", "trace_id")

    def __init__(
        self,
        trace_id: str,
        otel_span: Any = None,
        token: Any = None,
        parent: TraceParent | None = None,
    ) -> None:
        self.trace_id = trace_id
        self.parent = parent  # the caller's valid traceparent (passed on when not exporting)
        self._span, self._token = otel_span, token

    @property
    def recording(self) -> bool:
        """Whether this call has a span (the attributes of `end` are wanted only then)."""
        return self._span is not None

    def end(self, status: int | None, attributes: Mapping[str, str | None]) -> None:
        if self._span is None:
            return
        from opentelemetry import context, trace

        self._span.set_attribute("http.response.status_code", status or 0)
        for key, value in attributes.items():
            if value is not None:
                self._span.set_attribute(key, value)
        if (status or 500) >= 500:
            self._span.set_status(trace.StatusCode.ERROR)
        self._span.end()
        context.detach(self._token)


def start_call(headers: Mapping[str, str]) -> CallSpan:
    """The call's trace, continued from `traceparent` when it is valid; when exporting, its
    span becomes the current span, so the steps' spans are its children."""
    sent = headers.get("traceparent")
    parent = None if sent is None else parse_traceparent(sent, headers.get("tracestate"))
    if _tracer is None:  # not exporting: an id for the logs and audit, nothing of spans
        return CallSpan(new_trace_id() if parent is None else parent.trace_id, parent=parent)
    from opentelemetry import context, trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = {} if parent is None else {"traceparent": parent.header()}
    if parent is not None and parent.state:
        carrier["tracestate"] = parent.state
    started = _tracer.start_span(
        "oma_gateway.call",
        context=TraceContextTextMapPropagator().extract(carrier),
        kind=trace.SpanKind.SERVER,
    )
    token = context.attach(trace.set_span_in_context(started))
    return CallSpan(f"{started.get_span_context().trace_id:032x}", started, token)


class _Span:
    """A span around one step; does nothing when not exporting."""

    __slots__ = ("_attributes", "_manager", "_name")

    def __init__(self, name: str, attributes: dict[str, str]) -> None:
        self._name, self._attributes = name, attributes
        self._manager: Any = None

    def __enter__(self) -> None:
        if _tracer is not None:
            self._manager = _tracer.start_as_current_span(self._name, attributes=self._attributes)
            self._manager.__enter__()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._manager is not None:
            self._manager.__exit__(kind, exc, tb)

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(kind, exc, tb)


def upstream_headers(parent: TraceParent | None) -> dict[str, str]:
    """The trace context an exchange with OMA carries (W3C Trace Context). When exporting: the
    current span's, the upstream exchange (or the login), so whatever traces on OMA's side or
    in an egress proxy joins the trace under it. Otherwise the caller's own, passed on unchanged,
    as an intermediary that records nothing does; and none when the caller sent none: a trace id
    the gateway made up appears only in its own logs and audit."""
    if _tracer is not None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        carrier: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(carrier)
        return carrier
    if parent is None:
        return {}
    if parent.state:
        return {"traceparent": parent.header(), "tracestate": parent.state}
    return {"traceparent": parent.header()}


def span(name: str, **attributes: str) -> _Span:
    """`with span("oma_gateway.limits"):` or `async with span(...)`: a child of the current span."""
    return _Span(name, attributes)


def exporting(
    settings: TracingSettings,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context for the app: export spans while it runs, flush them when it stops."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        global _tracer  # one exporter per process, like the SDK's own provider
        if settings.otlp_endpoint is None:
            yield
            return
        import asyncio

        provider = _provider(settings)
        _tracer = provider.get_tracer("oma_gateway", __version__)
        try:
            yield
        finally:
            _tracer = None
            await asyncio.to_thread(provider.shutdown)  # flushes what is still batched

    return context


def _provider(settings: TracingSettings) -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({
        "service.name": settings.service_name,
        "service.version": __version__,
    })  # fmt: skip
    provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(endpoint=f"{settings.otlp_endpoint}/v1/traces", timeout=5)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
    return provider
