"""The audit file as the writer thread sees it: open, locked, caught up, rotated, recovered.

Every write happens under an exclusive `flock`, so processes sharing one file (workers) extend one
chain: each first catches up with the file's last sealed line. Logrotate may rename the file
(the writer notices a new inode) or truncate it (copytruncate): the first writer to notice a rename
closes the old file with a checkpoint and opens the new one with a checkpoint of the same head,
both while it still holds the old file's lock, so a sibling that notices later sees the successor
already started and follows it instead of forking the chain in the old file.

A torn line (a write cut by a full disk or a crash) is not left to break the chain: under the lock
the writer ends it with a newline, resumes from the last sealed line's hash, and writes a recovery
record (a signed checkpoint, or the new segment's chain_start) carrying `torn_bytes`, the length of
what lies between, at which `verify` resynchronises.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import structlog

from .encode import encode
from .lines import last_sealed, seal_encoded
from .redact import ALREADY_REDACTED
from .sign import Signer

__all__ = ["Segment"]

log = structlog.get_logger("gateway.audit")


class Segment:
    def __init__(self, path: Path, signer: Signer | None, lost: Callable[[int, int], None]) -> None:
        self.path, self.signer, self._lost = path, signer, lost
        self.writer = signer.writer if signer is not None else os.urandom(6).hex()
        self._fd: int | None = None
        self._file_id: tuple[int, int] = (0, 0)
        self._size = 0
        self._prev: str | None = None
        self._torn: int | None = None  # bytes found after the last sealed line, not yet recorded
        self._prev_unknown = False
        self._next_reason = "process_start"
        self._opened = False
        self.unsigned_since: float | None = None  # when a line of ours first went unsigned
        self.io_ok = True
        self.written = 0  # lines in the file (chain_start and checkpoints included)
        self.write_errors = 0

    def append(self, batch: list[bytes], lost: int, checkpoint: bool) -> bool:
        """Seal and write `batch` (and what must precede or follow it); whether anything was."""
        if not (batch or lost or checkpoint) and self._opened:
            return False
        self._opened = True
        try:
            with contextlib.ExitStack() as locks:
                out = _Lines()
                reason = self._open(locks, out)
                self._head(out, reason, lost)
                for body in batch:
                    out.add(body)
                self._tail(out, checkpoint)
                self._write(out.data())
        except OSError as exc:  # a checkpoint signed here and lost leaves a gap in `seq`
            self._failed(exc, len(batch), lost)
            return False
        self._done(out)
        return True

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    def sync(self) -> bool:
        if self._fd is None:
            return False
        try:
            os.fsync(self._fd)
        except OSError as exc:
            self._failed(exc, 0, 0)
            return False
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _open(self, locks: contextlib.ExitStack, out: _Lines) -> str | None:
        """Lock the file to write and catch up; the new segment's reason, if one starts."""
        reason = self._next_reason if self._fd is None else self._moved()
        if reason == "rotated" and self._fd is not None:
            self._leave(locks, out)
        if self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
            stat = os.fstat(fd)
            self._fd, self._file_id, self._size = fd, (stat.st_dev, stat.st_ino), -1
        locks.enter_context(_locked(self._fd))
        self._catch_up()
        out.start(self._prev)
        return reason

    def _leave(self, locks: contextlib.ExitStack, out: _Lines) -> None:
        """Close the file logrotate moved, holding its lock until the successor has a line."""
        assert self._fd is not None
        old, self._fd = self._fd, None
        locks.callback(os.close, old)
        locks.enter_context(_locked(old))
        self._fd = old
        self._catch_up()  # the rotated file's true last hash, even if a sibling wrote it
        out.start(self._prev)
        self._recover(out)
        if not self._successor_started() and self.signer is not None and out.prev is not None:
            out.checkpoint(self.signer.checkpoint(out.prev, closes="rotated"))
            self.unsigned_since = None
        self._write(out.take())  # into the old file, as its last lines
        self._prev, self._fd = out.prev, None

    def _successor_started(self) -> bool:
        with contextlib.suppress(FileNotFoundError):
            return os.stat(self.path).st_size > 0
        return False

    def _moved(self) -> str | None:
        """Whether logrotate took the file away (renamed) or truncated it (copytruncate)."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return "rotated"
        if (stat.st_dev, stat.st_ino) != self._file_id:
            return "rotated"
        return "truncated" if stat.st_size < self._size else None

    def _catch_up(self) -> None:
        """Under the lock: continue from the file's last sealed line (a sibling may have
        appended since our last write); end a torn line and remember to record it."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size == self._size:
            return
        if size == 0:  # a new file (first start, rotated, truncated): the chain goes on into it
            self._size = 0
            return
        head, after = last_sealed(self._fd, size)
        if after != 0:
            ended = os.pread(self._fd, 1, size - 1) == b"\n"
            if not ended:
                os.write(self._fd, b"\n")
                size += 1
            self._torn = None if after is None else after + (0 if ended else 1)
            self._prev_unknown = head is None
        self._prev, self._size = head, size

    def _head(self, out: _Lines, reason: str | None, lost: int) -> None:
        """What precedes the batch: a recovery record after a torn line, an opening checkpoint
        in a new file, a chain_start for a new segment, else a notice of lost records."""
        self._recover(out)
        if reason is None:
            if lost:
                out.add(encode({"event": "records_lost", "count": lost}))
            return
        if self._size == 0 and out.prev is not None and self.signer is not None:
            out.checkpoint(self.signer.checkpoint(out.prev, opens=reason))
        out.add(encode(_chain_start(reason, lost, self.writer)))

    def _recover(self, out: _Lines) -> None:
        """After a torn line: the record `verify` resynchronises at, from the last good hash
        (marked when even that is unknown: the chain never restarts from null silently)."""
        if self._torn is None and not self._prev_unknown:
            return
        recovery: dict[str, Any] = {} if self._torn is None else {"torn_bytes": self._torn}
        if self._prev_unknown:
            recovery["prev_unknown"] = True
        self._torn, self._prev_unknown = None, False
        if self.signer is not None:
            out.checkpoint(self.signer.checkpoint(out.prev, **recovery))
        else:
            out.add(encode(_chain_start("torn_line", 0, self.writer, recovery)))

    def _tail(self, out: _Lines, checkpoint: bool) -> None:
        # Unsigned lines wait for a checkpoint only when there is a key to sign one: without
        # it, a clock that never stops made the writer wake without pause (a core spinning).
        if out.count and self.signer is not None and self.unsigned_since is None:
            self.unsigned_since = time.monotonic()
        if checkpoint and self.signer is not None and out.prev is not None:
            out.checkpoint(self.signer.checkpoint(out.prev), signed=True)

    def _write(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self._size += len(data)

    def _done(self, out: _Lines) -> None:
        self._prev, self._prev_unknown = out.prev, False
        self.written += out.count
        if out.signed:
            self.unsigned_since = None
        for record in out.checkpoints:
            log.info("checkpoint", **record, file=str(self.path), **{ALREADY_REDACTED: True})
        self._transition(ok=True)

    def _failed(self, exc: OSError, records: int, unreported: int) -> None:
        self.write_errors += 1
        self._lost(records, unreported)
        self.close()
        self._next_reason = "recovered"
        self._transition(ok=False, error=f"{type(exc).__name__}: {exc.strerror}")

    def _transition(self, ok: bool, error: str | None = None) -> None:
        """Logged once per change of state, not once per record: a full disk must not flood."""
        if ok == self.io_ok:
            return
        self.io_ok = ok
        if ok:
            log.warning("audit_write_recovered", file=str(self.path))
        else:
            log.error("audit_write_failed", file=str(self.path), error=error)


class _Lines:
    """The lines of one locked write, sealed one after another from the file's head."""

    def __init__(self) -> None:
        self.prev: str | None = None
        self._data: list[bytes] = []
        self.count = 0
        self.signed = False
        self.checkpoints: list[dict[str, Any]] = []

    def start(self, prev: str | None) -> None:
        self.prev = prev

    def add(self, body: bytes) -> None:
        line, self.prev = seal_encoded(body, self.prev)
        self._data.append(line + b"\n")
        self.count += 1

    def checkpoint(self, record: dict[str, Any], signed: bool = False) -> None:
        """A checkpoint: sealed like any line, and logged to stdout once written."""
        self.add(encode(record))
        self.signed = self.signed or signed
        self.checkpoints.append({k: v for k, v in record.items() if k != "event"})

    def data(self) -> bytes:
        return b"".join(self._data)

    def take(self) -> bytes:
        data, self._data = self.data(), []
        return data


def _chain_start(
    reason: str, lost: int, writer: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")
    record: dict[str, Any] = {"event": "chain_start", "reason": reason, "time": now}
    record.update(pid=os.getpid(), writer=writer, **(extra or {}))
    if lost:
        record["lost"] = lost  # records that could not be written before this segment
    return record


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[None]:
    """An exclusive lock on the file while a batch is sealed and written, so that processes
    sharing one audit file (workers) extend one chain instead of forking it."""
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
