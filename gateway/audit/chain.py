"""The audit file: append-only JSON lines, each sealed with its own hash and its predecessor's.

A line is the record as JSON with `prev` (the previous line's hash) first and `hash` last, where
`hash` is the sha256 of the line's bytes up to and without `,"hash":"..."`. Editing a line breaks
its own hash; deleting or inserting one breaks the next line's `prev`. Every segment (process
start, a file rotated or truncated by logrotate, writing again after a failure) begins with a
`chain_start` record naming why, whose `prev` is the last hash this chain knew, so the chain
continues across restarts and rotated files and every restart is visible.

Writing never blocks the event loop: records go into a bounded queue drained by one thread, which
batches them into single `write` calls. Durability (`AuditSettings.durability`):
  flush     each batch is written to the OS at once (survives a process crash); fsync at close only
  interval  the same, plus fsync at least every `fsync_interval` while there is unsynced data
            (default: a power loss costs at most that long of records)
  fsync     fsync after every batch (group commit: concurrent records share one fsync)
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import os
import queue
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import structlog

from ..settings import Durability

__all__ = ["ChainWriter", "seal", "tail_hash", "unseal"]

log = structlog.get_logger("gateway.audit")

_SEAL = re.compile(rb',"hash":"([0-9a-f]{64})"}\Z')
_BATCH = 512  # records per write call at most
_GATHER = 0.002  # seconds the writer waits after a first record for others to join its batch
_TAIL = 4096  # bytes read from the end of the file to find its last hash (the seal is last)


def seal(record: dict[str, Any], prev: str | None) -> tuple[bytes, str]:
    """The line (without newline) for `record` after `prev`, and its hash."""
    body = orjson.dumps({"prev": prev, **record})
    digest = hashlib.sha256(body).hexdigest()
    return body[:-1] + b',"hash":"' + digest.encode() + b'"}', digest


def unseal(line: bytes) -> tuple[bytes, str] | None:
    """The sealed body and the hash a line claims, or None when it has no seal."""
    match = _SEAL.search(line)
    if match is None:
        return None
    return line[: match.start()] + b"}", match.group(1).decode()


def tail_hash(fd: int, size: int) -> str | None:
    """The hash the last line of a file claims (None: empty, or not a sealed line)."""
    tail = os.pread(fd, _TAIL, max(0, size - _TAIL)) if size else b""
    if not tail.endswith(b"\n"):
        return None
    sealed = unseal(tail[:-1].rsplit(b"\n", 1)[-1])  # the seal is at the end: a cut line is fine
    return None if sealed is None else sealed[1]


class ChainWriter:
    """One writer thread per audit file. `healthy`, `written`, `lost`, `write_errors` and
    `queue_depth` are read by metrics and by the fail_closed check from the event loop."""

    def __init__(
        self,
        path: Path,
        *,
        durability: Durability = "interval",
        fsync_interval: float = 1.0,
        max_queue: int = 16384,
    ) -> None:
        self.path = path
        self.durability = durability
        self.fsync_interval = fsync_interval
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(max_queue)
        self._high_water = max(1, max_queue * 9 // 10)
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._fd: int | None = None
        self._file_id: tuple[int, int] = (0, 0)
        self._size = 0
        self._prev: str | None = None
        self._next_reason = "process_start"
        self._dirty_since: float | None = None
        self._io_ok = True
        self.written = 0  # records in the file (chain_start records included)
        self.lost = 0  # records that never reached the file
        self.write_errors = 0
        self._lost_unreported = 0  # lost records the file has not been told about yet
        self._lost_lock = threading.Lock()  # `lost` grows from both threads

    @property
    def healthy(self) -> bool:
        return self._io_ok and self._queue.qsize() < self._high_water

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._thread.start()

    def submit(self, record: dict[str, Any]) -> bool:
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._count_lost(1)
            return False
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Blocking: flush what is queued, fsync, stop the thread (call it off the event loop)."""
        if self._thread.is_alive():
            self._queue.put(None, timeout=timeout)
            self._thread.join(timeout)

    def _run(self) -> None:
        self._write([])  # the chain_start of this process, before any call arrives
        stop = False
        while not stop:
            batch, stop = self._next_batch()
            if batch:
                self._write(batch)
            self._sync(force=stop)
        if self._fd is not None:
            os.close(self._fd)

    def _next_batch(self) -> tuple[list[dict[str, Any]], bool]:
        try:
            first = self._queue.get(timeout=self._wait())
        except queue.Empty:
            return [], False
        if first is not None:
            # Let a few more records arrive: one wake-up and one write per batch, not per record,
            # costs the event loop far less (fewer GIL hand-offs) for at most this much delay.
            time.sleep(_GATHER)
        batch: list[dict[str, Any]] = []
        item = first
        while item is not None:
            batch.append(item)
            if len(batch) >= _BATCH:
                return batch, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, False
        return batch, True

    def _wait(self) -> float | None:
        """How long to wait for records: forever, unless unsynced data awaits its fsync."""
        if self._dirty_since is None or self.durability != "interval":
            return None
        return max(0.0, self._dirty_since + self.fsync_interval - time.monotonic())

    def _write(self, batch: list[dict[str, Any]]) -> None:
        unreported = self._take_lost()
        try:
            reason = self._open()
            with _locked(self._fd):
                self._catch_up()
                head = self._head(reason, unreported)
                lines, prev = [], self._prev
                for record in (*head, *batch):
                    line, prev = seal(record, prev)
                    lines.append(line + b"\n")
                self._append(b"".join(lines))
        except OSError as exc:
            self._failed(exc, len(batch), unreported)
            return
        self._prev = prev
        self.written += len(lines)
        self._transition(ok=True)

    def _head(self, reason: str | None, lost: int) -> list[dict[str, Any]]:
        """What precedes the batch: a chain_start for a new segment, else a notice of lost
        records, if any."""
        if reason is not None:
            return [_chain_start(reason, lost)]
        return [{"event": "records_lost", "count": lost}] if lost else []

    def _catch_up(self) -> None:
        """Under the file lock: if another process appended since our last write (workers may
        share one file), continue from its last line; end a torn line so it stays visible."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size == self._size:
            return
        if size == 0:  # a new file (first start, rotated, truncated): the chain goes on into it
            self._size = 0
            return
        if os.pread(self._fd, 1, size - 1) != b"\n":
            os.write(self._fd, b"\n")
            size += 1
        self._prev, self._size = tail_hash(self._fd, size), size

    def _append(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self._size += len(data)
        self._dirty_since = self._dirty_since or time.monotonic()
        if self.durability == "fsync":
            self._sync(force=True)

    def _sync(self, force: bool) -> None:
        if self._fd is None or self._dirty_since is None:
            return
        due = self.durability == "interval" and (
            time.monotonic() - self._dirty_since >= self.fsync_interval
        )
        if force or due:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                self._failed(exc, 0)
                return
            self._dirty_since = None

    def _open(self) -> str | None:
        """Open the file if needed (first write, after a failure, after logrotate moved it);
        the reason is what the new segment's chain_start says, None if the file was open."""
        reason = self._next_reason if self._fd is None else self._moved()
        if reason is None:
            return None
        if self._fd is not None:
            with _locked(self._fd):
                self._catch_up()  # the rotated file's true last hash, even if a sibling wrote it
            os.close(self._fd)
            self._fd = None
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        stat = os.fstat(fd)
        self._fd, self._file_id = fd, (stat.st_dev, stat.st_ino)
        self._size = -1  # unknown: the first locked write reads the last hash from the file
        return reason

    def _count_lost(self, records: int, unreported: int = 0) -> None:
        """`records` newly lost; `unreported` earlier ones whose notice was not written either."""
        with self._lost_lock:
            self.lost += records
            self._lost_unreported += records + unreported

    def _take_lost(self) -> int:
        with self._lost_lock:
            lost, self._lost_unreported = self._lost_unreported, 0
        return lost

    def _moved(self) -> str | None:
        """Whether logrotate took the file away (renamed) or truncated it (copytruncate)."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return "rotated"
        if (stat.st_dev, stat.st_ino) != self._file_id:
            return "rotated"
        return "truncated" if stat.st_size < self._size else None

    def _failed(self, exc: OSError, records: int, unreported: int = 0) -> None:
        self.write_errors += 1
        self._count_lost(records, unreported)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._next_reason = "recovered"
        self._transition(ok=False, error=f"{type(exc).__name__}: {exc.strerror}")

    def _transition(self, ok: bool, error: str | None = None) -> None:
        """Logged once per change of state, not once per record: a full disk must not flood."""
        if ok == self._io_ok:
            return
        self._io_ok = ok
        if ok:
            log.warning("audit_write_recovered", file=str(self.path), lost=self.lost)
        else:
            log.error("audit_write_failed", file=str(self.path), error=error)


def _chain_start(reason: str, lost: int) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")
    record: dict[str, Any] = {"event": "chain_start", "reason": reason, "time": now}
    record["pid"] = os.getpid()
    if lost:
        record["lost"] = lost  # records that could not be written before this segment
    return record


@contextlib.contextmanager
def _locked(fd: int | None) -> Iterator[None]:
    """An exclusive lock on the file while a batch is sealed and written, so that processes
    sharing one audit file (workers) extend one chain instead of forking it."""
    assert fd is not None
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
