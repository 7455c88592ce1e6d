"""The record of one call, filled in step by step along the request path.

One `Call` per request (oauth2-proxy's request scope): the middleware creates it, each step adds
what it learns, and when the answer is sent the observers (audit trail, metrics) read it whole.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from .auth.keys import Identity
from .policy.targets import Target
from .secrets import Secret
from .store import Decision
from .tracing import TraceParent

__all__ = ["Call", "current_call", "request_id_from"]

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


# A made-up id is a random per-process prefix and a counter: unique across a fleet, and far
# cheaper per call than uuid4 (ids only need to be unique, not unguessable).
_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count(1)


def request_id_from(sent: str | None) -> str:
    """The caller's own X-Request-ID when it is sane (it ends up in logs and in OMA's `client`)."""
    if sent is not None and _SANE_REQUEST_ID.fullmatch(sent):
        return sent
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


@dataclass(slots=True)
class Call:
    request_id: str
    remote: str | None
    started: float = field(default_factory=time.time)  # wall clock, for the record
    t0: float = field(default_factory=time.perf_counter)  # monotonic, for latency
    method: str | None = None
    identity: Identity | None = None
    body: dict[str, Any] | None = None  # as the caller sent it; observers redact before use
    targets: tuple[Target, ...] = ()  # what the call names, once its caller is known (policy)
    refusal: Mapping[str, object] | None = None  # a policy refusal's rule, field and value
    limits: Decision | None = None
    answer: dict[str, Any] | None = None  # OMA's parsed answer, when one came
    status: int | None = None
    gateway_error: str | None = None
    resent: bool = False  # sent a second time after OMA refused a stale token
    upstream_latency: float = 0.0
    duration: float | None = None
    #: The key as presented, known or not: log redaction cuts it out of every line of the call.
    presented_key: Secret | None = None
    #: The caller's own `credentials.client` (printable ASCII, at most 64 characters).
    client: str | None = None
    #: The caller name OMA-style body credentials claimed (bounded, printable): kept for 401s.
    claimed: str | None = None
    #: The call carried OMA-style body credentials (`refusal_status: auto` answers it OMA's way).
    oma_style: bool = False
    #: W3C trace id (32 hex): the caller's from `traceparent`, or a new one (gateway.tracing).
    trace_id: str | None = None
    #: The caller's valid `traceparent`/`tracestate`, passed on to OMA when not exporting spans.
    trace_parent: TraceParent | None = None
    #: A streamed download reached its caller whole (False: cut at the size bound).
    download_whole: bool = True

    @property
    def caller(self) -> str | None:
        return None if self.identity is None else self.identity.caller.name

    @property
    def upstream(self) -> str | None:
        return None if self.identity is None else self.identity.caller.upstream

    @property
    def key_id(self) -> str | None:
        key = None if self.identity is None else self.identity.key
        return None if key is None else key.key_id

    def finish(self, status: int) -> None:
        self.status = status
        self.duration = time.perf_counter() - self.t0


#: The call being served by this task, if any (set by the app's call scope, reset after it).
#: Log redaction reads it to find the caller's key; it is never merged into a log line.
current_call: ContextVar[Call | None] = ContextVar("current_call", default=None)
