"""The process's log lines on their way to stdout: one writer, whole lines, audit lines batched.

structlog's chain ends in a `LineWriter` (it is the chain's logger: `gateway.logs`), and so does
the audit trail's own line, which skips that chain: the trail renders its already-redacted record
once (`event_line`) and queues the line, and the lines queued during one event-loop iteration go
out in one write and one flush when the loop next turns, instead of a write and a flush each. Any
other line first writes the queued ones, so the stream holds every line whole and in the order
the lines were made. A batch is whole lines only, so with workers the supervisor's copy of each
worker's pipe (`gateway.relay`, line by line) never mixes them.

The trail takes this path only while the chain `gateway.logs.configure` installed is the one in
force (`current`): under `structlog.testing.capture_logs`, or any other configuration, its line
goes through structlog like any other.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
import time
from typing import Any, BinaryIO, NamedTuple

import orjson
import structlog

__all__ = ["LineWriter", "current", "event_line", "event_tail", "install", "stamp", "writer_for"]


class LineWriter:
    """The one writer of a stream's lines: structlog's logger (`msg`) and the queue (`queue`)."""

    __slots__ = ("_due", "_lock", "_pending", "stream")

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()  # structlog lines come from any thread
        self._pending: list[bytes] = []
        self._due: asyncio.AbstractEventLoop | None = None  # the loop a flush is scheduled on

    def msg(self, message: bytes) -> None:
        """structlog's call: this line now, after the queued ones (the order lines were made)."""
        with self._lock:
            self._pending.append(message + b"\n")
            self._write_pending()

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg

    def queue(self, line: bytes) -> None:
        """A whole line (newline included), written when the running event loop next turns;
        at once in a thread with no running loop."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            self._pending.append(line)
            if loop is not None and self._due is loop:
                return
            if loop is None or self._due is not None:  # another loop's flush may never run
                self._write_pending()
                return
            self._due = loop
        loop.call_soon(self.flush)

    def flush(self, timeout: float = -1) -> None:
        """Write what is queued (at the end of a loop iteration, and when the trail closes)."""
        if not self._lock.acquire(timeout=timeout):
            return
        try:
            self._due = None
            self._write_pending()
        finally:
            self._lock.release()

    def _write_pending(self) -> None:
        """Under the lock. The queue is emptied first: a broken stream must not make it grow."""
        pending = self._pending
        if not pending:
            return
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        self.stream.write(data)
        self.stream.flush()


class _Route(NamedTuple):
    writer: LineWriter
    factory: Any
    wrapper: Any
    renderer: Any
    audited: bool  # the configured level lets `info` lines through


_route: _Route | None = None


def writer_for(stream: BinaryIO) -> LineWriter:
    """The installed writer when it writes to `stream` (loggers cached under the earlier
    configuration then share its lock and its order), else a new one."""
    route = _route
    if route is not None and route.writer.stream is stream:
        return route.writer
    return LineWriter(stream)


def install(
    writer: LineWriter, *, factory: Any, wrapper: Any, renderer: Any, audited: bool
) -> None:
    """Called by `gateway.logs.configure`: the chain it configured, and its writer."""
    global _route
    previous, _route = _route, _Route(writer, factory, wrapper, renderer, audited)
    if previous is not None and previous.writer is not writer:
        previous.writer.flush()


@atexit.register
def _flush_at_exit() -> None:
    """A line queued when the loop stopped for good still goes out (the trail's close flushes
    first in every orderly shutdown: this is the net under it)."""
    route = _route
    if route is not None:
        with contextlib.suppress(ValueError, OSError):  # the stream may be closed by now
            route.writer.flush(timeout=1.0)  # a daemon thread stuck mid-write must not hang exit


def current() -> LineWriter | None:
    """The writer for a pre-rendered `info` line, while `install`'s chain is structlog's: its
    factory, its level, and its renderer last (`capture_logs` replaces the processors)."""
    route = _route
    if route is None or not route.audited:
        return None
    config = structlog.get_config()
    processors = config["processors"]
    if (
        config["logger_factory"] is not route.factory
        or config["wrapper_class"] is not route.wrapper
        or not processors
        or processors[-1] is not route.renderer
    ):
        return None
    return route.writer


def event_line(body: bytes, tail: bytes) -> bytes:
    """The line structlog's chain renders for `log.info(event, **record)`, from the record's
    line-safe JSON `body` and `tail` (`event_tail`): the record's fields in order, then `event`,
    `level` and `timestamp` (`TimeStamper(fmt="iso", utc=True)`'s spelling, `stamp`)."""
    return b"".join((body[:-1], tail, stamp(time.time_ns()).encode(), b'"}\n'))


def stamp(ns: int) -> str:
    """`datetime.now(UTC).isoformat().replace("+00:00", "Z")` at `ns` (datetime.now floors the
    clock to the microsecond, and so does this; no fraction when it is 0), with the date and
    time of day formatted once per second rather than per line."""
    global _second
    second, micro = divmod(ns // 1000, 1_000_000)
    cached = _second
    if cached[0] != second:
        cached = _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{micro:06d}Z" if micro else f"{cached[1]}Z"


_second: tuple[int, str] = (-1, "")  # one assignment: threads see a whole pair


def event_tail(event: str, level: str = "info") -> bytes:
    """What follows a record's last field on its line, up to the timestamp's value."""
    fields = orjson.dumps({"event": event, "level": level, "timestamp": ""})
    return b"," + fields[1 : -len(b'"}')]
