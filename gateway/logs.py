"""Logging: one JSON object per line on stdout, for log shippers, with secrets cut out.

Every event passes the same chain: the call's request id and any bound context merged in, level and
UTC ISO timestamp added, exceptions rendered to text, then REDACTION (after rendering exceptions,
so a secret inside a traceback is caught too), then orjson. Production uses structlog's native
filtering logger writing bytes, cached on first use (structlog's fast path); tests pass
`cache=False` so that `capture_logs` and later configurations still take effect.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import BinaryIO

import orjson
import structlog

from .audit.redact import REDACTOR
from .call import current_call

__all__ = ["add_request_id", "configure"]


def configure(
    *, level: int = logging.INFO, stream: BinaryIO | None = None, cache: bool = True
) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_request_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            structlog.processors.format_exc_info,
            REDACTOR.processor,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.BytesLoggerFactory(stream or sys.stdout.buffer),
        cache_logger_on_first_use=cache,
    )


def add_request_id(
    logger: object, method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """The request id of the call being served, on every line logged while serving it.

    Read from the call's own context variable (set once per call by the middleware) rather than
    bound into structlog's context per request: binding costs every call, reading costs only
    the calls that log."""
    call = current_call.get()
    if call is not None:
        event.setdefault("request_id", call.request_id)
        event.setdefault("trace_id", call.trace_id)
    return event


def _dumps(event: object, **_: object) -> bytes:
    # Anything orjson cannot encode natively becomes its str(); redaction already saw it as text.
    try:
        return orjson.dumps(event, default=str)
    except TypeError:  # e.g. an int beyond 64 bits: a log line must never fail a call
        return json.dumps(event, default=str).encode()
