"""Workers' stdout through the supervisor, one whole line at a time.

Several processes writing to one inherited pipe interleave any write larger than PIPE_BUF (4 KiB
on Linux): an audit record of 10 KiB from one worker can be cut by a line from another, and the
log shipper then holds two unparseable halves. So each worker writes to a pipe of its own, and
the supervisor copies complete lines from every pipe to its stdout with one buffered write each,
from its one event loop thread (where its own log lines are written too): lines never mix,
whatever their size. A line longer than `MAX_LINE` without a newline is passed on in pieces
rather than held without bound (the audit writer shortens records long before that).
"""

from __future__ import annotations

import asyncio
import sys
from typing import BinaryIO

__all__ = ["MAX_LINE", "relay_lines"]

MAX_LINE = 8 * 1024 * 1024  # bytes held for one unfinished line at most
_CHUNK = 256 * 1024


async def relay_lines(source: asyncio.StreamReader, sink: BinaryIO | None = None) -> None:
    """Copy `source` to `sink` (default: this process's stdout) until EOF, whole lines only."""
    out = sink or sys.stdout.buffer
    pending = bytearray()
    while chunk := await source.read(_CHUNK):
        pending += chunk
        end = pending.rfind(b"\n") + 1
        if end:
            _write(out, pending[:end])
            del pending[:end]
        elif len(pending) >= MAX_LINE:
            _write(out, pending)
            pending.clear()
    if pending:
        _write(out, pending + b"\n")


def _write(out: BinaryIO, data: bytes | bytearray) -> None:
    out.write(data)
    out.flush()
