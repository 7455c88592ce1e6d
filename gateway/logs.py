"""Logging: one JSON object per line on stdout, for log shippers, with secrets cut out.

Every event passes the same chain: the call's request id and any bound context merged in, level and
UTC ISO timestamp added, a BUDGET on repeated lines (`LineBudget`), exceptions rendered to text,
then REDACTION (after rendering exceptions, so a secret inside a traceback is caught too), then
orjson. Production uses structlog's native filtering logger writing bytes (`audit.stdout`'s
`LineWriter`, which the audit trail's pre-rendered lines share), cached on first use (structlog's
fast path); tests pass `cache=False` so that `capture_logs` and later configurations still take
effect.

The standard library's logging (aiohttp's server and access loggers, asyncio, redis, anything) is
routed into the same chain (`StdlibBridge` on the root logger), and so are the hooks that would
otherwise print to stderr (uncaught exceptions in threads, unraisable exceptions, warnings):
nothing a library says reaches stderr unredacted.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO

import orjson
import structlog

from .audit import stdout
from .audit.encode import line_safe
from .audit.redact import REDACTOR
from .call import current_call

__all__ = ["LineBudget", "StdlibBridge", "add_request_id", "configure", "level_number"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}  # fmt: skip


def level_number(name: str) -> int:
    """The `logging` level of a `log_level` setting (validation has checked the name)."""
    return _LEVELS.get(name, logging.INFO)


def configure(
    *,
    level: int = logging.INFO,
    stream: BinaryIO | None = None,
    cache: bool = True,
    stdlib: bool = False,
) -> None:
    """The chain above; with `stdlib` (the serving process), the standard library's logging and
    the stderr hooks too (process-wide, so tests that only need structlog leave it off)."""
    writer = stdout.writer_for(stream or sys.stdout.buffer)
    renderer = structlog.processors.JSONRenderer(serializer=_dumps)
    wrapper = structlog.make_filtering_bound_logger(level)

    def factory(*_: Any) -> stdout.LineWriter:
        return writer

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_request_id,
            structlog.processors.add_log_level,
            LineBudget(),
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            structlog.processors.format_exc_info,
            REDACTOR.processor,
            renderer,
        ],
        wrapper_class=wrapper,
        logger_factory=factory,
        cache_logger_on_first_use=cache,
    )
    # The audit trail's own line skips the chain above while it is in force (`audit.stdout`).
    stdout.install(
        writer, factory=factory, wrapper=wrapper, renderer=renderer, audited=level <= logging.INFO
    )
    if stdlib:
        _route_stdlib(level)


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


class LineBudget:
    """At most `per_window` lines of one kind per `window` seconds; the rest are counted and
    reported once, on the next line of that kind after the window (`suppressed`).

    A kind is the logger and event name of a warning or worse, or of any line marked `_budget`
    (per-connection events an attacker can repeat): a storm of "Too many open files" or of
    client timeouts becomes a bounded number of lines. Other lines (the audit record of every
    call) are never dropped. Kinds are few and fixed; `max_kinds` bounds them all the same."""

    def __init__(self, per_window: int = 10, window: float = 60.0, max_kinds: int = 256) -> None:
        self.per_window, self.window, self.max_kinds = per_window, window, max_kinds
        self._kinds: dict[tuple[str, str], list[float]] = {}  # kind -> [window start, lines, lost]
        self._lock = threading.Lock()  # stdlib lines come from any thread

    def __call__(
        self, logger: object, method: str, event: structlog.typing.EventDict
    ) -> structlog.typing.EventDict:
        budgeted = event.pop("_budget", False)
        if not budgeted and method not in ("warning", "error", "critical", "exception"):
            return event
        kind = (str(event.get("logger", "")), str(event.get("event", ""))[:80])
        with self._lock:
            lost = self._spend(kind)
        if lost < 0:
            raise structlog.DropEvent
        if lost:
            event["suppressed"] = lost
        return event

    def _spend(self, kind: tuple[str, str]) -> int:
        """-1 to drop this line, else how many were dropped before it in the last window."""
        now = time.monotonic()
        state = self._kinds.get(kind)
        if state is None or now - state[0] >= self.window:
            if state is None and len(self._kinds) >= self.max_kinds:
                kind = ("", "(other)")
                state = self._kinds.get(kind)
            if state is None or now - state[0] >= self.window:
                lost = 0 if state is None else int(state[2])
                self._kinds[kind] = [now, 1, 0]
                return lost
        if state[1] < self.per_window:
            state[1] += 1
            return 0
        state[2] += 1
        return -1


class StdlibBridge(logging.Handler):
    """A stdlib `LogRecord` as a structlog event: logger name, message, level, exception."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a library's bad format arguments must not lose the line
            message = str(record.msg)
        fields: dict[str, Any] = {"logger": record.name}
        if record.exc_info and record.exc_info[0] is not None:
            fields["exc_info"] = record.exc_info
        log = structlog.get_logger(record.name)
        log.log(record.levelno, message, **fields)


def _route_stdlib(level: int) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, StdlibBridge):
            root.removeHandler(handler)
    root.addHandler(StdlibBridge())
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings.warn goes to the "py.warnings" logger, hence here
    _route_hooks()


def _route_hooks() -> None:
    """Uncaught exceptions print to stderr by default: log them through the chain instead."""
    log = structlog.get_logger("gateway.uncaught")

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        info = (args.exc_type, args.exc_value, args.exc_traceback)
        log.error("uncaught_in_thread", thread=getattr(args.thread, "name", None), exc_info=info)

    def unraisable_hook(args: Any) -> None:
        info = (args.exc_type, args.exc_value, args.exc_traceback)
        log.error("unraisable_exception", where=str(args.err_msg or ""), exc_info=info)

    threading.excepthook = thread_hook
    sys.unraisablehook = unraisable_hook
    sys.excepthook = _except_hook(log)


def _except_hook(log: Any) -> Callable[..., None]:
    def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        log.critical("uncaught_exception", exc_info=(kind, value, tb))

    return hook


def _dumps(event: object, **_: object) -> bytes:
    # Anything orjson cannot encode natively becomes its str(); redaction already saw it as text.
    try:  # line_safe: U+2028 and kin escaped, so a consumer never splits a line
        return line_safe(orjson.dumps(event, default=str))
    except TypeError:  # e.g. an int beyond 64 bits: a log line must never fail a call
        return json.dumps(event, default=str).encode()
