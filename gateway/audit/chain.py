"""The audit file's writer thread: a byte-bounded queue drained into one hash chain.

Editing a line breaks its own hash; deleting or inserting one breaks the next line's `prev`
(`lines`). Every segment (process start, a file rotated or truncated by logrotate, writing again
after a failure) begins with a `chain_start` record naming why, whose `prev` is the last hash
this chain knew, so the chain continues across restarts and rotated files. With a signing key,
signed checkpoints (`sign`) vouch for the chain: at least every `checkpoint_interval` after a
record, at close, as the last line of a file renamed away and as the first of its successor; and
each also goes to stdout, so the log pipeline holds an independent copy of every signed head.
The file itself (locking, rotation, torn lines) is `segment.py`'s.

Writing never blocks the event loop and never stops for content: records arrive encoded and
bounded (`encode`), the queue is bounded by bytes, and the thread outlives any error. `healthy`
means the thread is alive and keeping up, and the file can be written. Durability:
  flush     each batch is written to the OS at once (survives a process crash); fsync at close only
  interval  the same, plus fsync at least every `fsync_interval` while there is unsynced data
  fsync     fsync after every batch (group commit: concurrent records share one fsync)
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Any

import structlog

from ..settings import Durability
from .encode import encode
from .segment import Segment
from .sign import Signer

__all__ = ["ChainWriter"]

log = structlog.get_logger("gateway.audit")

_BATCH = 512  # records per write call at most
_GATHER = 0.002  # seconds the writer waits after a first record for others to join its batch
_STALL = 5.0  # seconds one batch may take before the writer counts as not keeping up
MAX_QUEUE_BYTES = 16 * 1024 * 1024


class ChainWriter:
    """One writer thread per audit file. `healthy`, `written`, `lost`, `write_errors`,
    `queue_depth` and `queue_bytes` are read by metrics and by the fail_closed check."""

    def __init__(
        self,
        path: Path,
        *,
        durability: Durability = "interval",
        fsync_interval: float = 1.0,
        signer: Signer | None = None,
        checkpoint_interval: float = 10.0,
        max_queue_bytes: int = MAX_QUEUE_BYTES,
    ) -> None:
        self.path = path
        self.durability = durability
        self.fsync_interval = fsync_interval
        self.checkpoint_interval = checkpoint_interval
        self.segment = Segment(path, signer, self._on_io)
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._max_bytes = max_queue_bytes
        self._high_water = max(1, max_queue_bytes * 9 // 10)
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._lock = threading.Lock()  # the counters below change from both threads
        self._bytes = self._records = 0  # queued, or taken by a batch not yet written
        self._busy_since: float | None = None  # when the batch being written was taken
        self._dirty_since: float | None = None
        self._closed = self._abandoned = False
        self.lost = 0  # records that never reached the file
        self._lost_unreported = 0  # lost records the file has not been told about yet

    @property
    def written(self) -> int:
        return self.segment.written

    @property
    def write_errors(self) -> int:
        return self.segment.write_errors

    @property
    def healthy(self) -> bool:
        alive = self._thread.ident is None or self._thread.is_alive()
        return alive and self.segment.io_ok and self._keeping_up()

    def _keeping_up(self) -> bool:
        busy = self._busy_since
        stalled = busy is not None and time.monotonic() - busy > _STALL
        return not stalled and self._bytes < self._high_water

    @property
    def queue_depth(self) -> int:
        return self._records

    @property
    def queue_bytes(self) -> int:
        return self._bytes

    def start(self) -> None:
        self._thread.start()

    def submit(self, record: dict[str, Any]) -> bool:
        """Queue a record (encoded here, bounded); False if it was dropped, and counted."""
        return self.submit_encoded(encode(record))

    def submit_encoded(self, data: bytes) -> bool:
        """Queue a record `encode` made (or `encode.with_event`: the same bytes); as `submit`."""
        with self._lock:
            fits = not self._closed and self._bytes + len(data) <= self._max_bytes
            if fits:
                self._bytes, self._records = self._bytes + len(data), self._records + 1
        if not fits:
            self._count_lost(1)
            return False
        self._queue.put(data)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Blocking: flush what is queued, checkpoint, fsync, stop the thread (off the event
        loop). What could not be written within `timeout` is counted as lost."""
        with self._lock:
            self._closed = True
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        if self._thread.ident is None or self._thread.is_alive():
            with self._lock:
                self._abandoned, left = True, self._records
            self._count_lost(left)

    def _run(self) -> None:
        self._write([])  # the chain_start of this process, before any call arrives
        stop = False
        while not stop:
            stop = self._step()
        self._write([], final=True)
        self._sync(force=True)
        self.segment.close()

    def _step(self) -> bool:
        batch, stop = self._next_batch()
        if self._abandoned:
            return True
        try:
            self._write(batch)
        except Exception:  # the writer must outlive anything: a bug costs a batch, not the trail
            log.exception("audit_writer_error", file=str(self.path))
            self._count_lost(len(batch))
        finally:
            self._done(batch)
        self._sync(force=stop)
        return stop

    def _next_batch(self) -> tuple[list[bytes], bool]:
        try:
            first = self._queue.get(timeout=self._wait())
        except queue.Empty:
            return [], False
        self._busy_since = time.monotonic()
        if first is not None:
            # Let a few more records arrive: one wake-up and one write per batch, not per record,
            # costs the event loop far less (fewer GIL hand-offs) for at most this much delay.
            time.sleep(_GATHER)
        batch: list[bytes] = []
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

    def _done(self, batch: list[bytes]) -> None:
        with self._lock:
            self._bytes -= sum(len(b) for b in batch)
            self._records -= len(batch)
        self._busy_since = None

    def _wait(self) -> float | None:
        """How long to wait for records: until the next fsync or checkpoint falls due."""
        now, due = time.monotonic(), []
        if self._dirty_since is not None and self.durability == "interval":
            due.append(self._dirty_since + self.fsync_interval)
        if self.segment.unsigned_since is not None:
            due.append(self.segment.unsigned_since + self.checkpoint_interval)
        return max(0.0, min(due) - now) if due else None

    def _write(self, batch: list[bytes], final: bool = False) -> None:
        unsigned = self.segment.unsigned_since
        sign = unsigned is not None and (
            final or time.monotonic() - unsigned >= self.checkpoint_interval
        )
        if not self.segment.append(batch, self._take_lost(), checkpoint=sign):
            if sign and unsigned is not None:  # the file failed: retry a full interval later,
                self.segment.unsigned_since = time.monotonic()  # not in a busy loop
            return
        self._dirty_since = self._dirty_since or time.monotonic()
        if self.durability == "fsync":
            self._sync(force=True)

    def _sync(self, force: bool) -> None:
        if self._dirty_since is None:
            return
        due = self.durability == "interval" and (
            time.monotonic() - self._dirty_since >= self.fsync_interval
        )
        # A failed file is closed: there is nothing left to sync until it is written again.
        if (force or due) and (self.segment.sync() or not self.segment.is_open):
            self._dirty_since = None

    def _on_io(self, records: int, unreported: int) -> None:
        """The segment could not write: `records` are lost, `unreported` earlier losses too."""
        self._count_lost(records, unreported)

    def _count_lost(self, records: int, unreported: int = 0) -> None:
        with self._lock:
            self.lost += records
            self._lost_unreported += records + unreported

    def _take_lost(self) -> int:
        with self._lock:
            lost, self._lost_unreported = self._lost_unreported, 0
        return lost
