"""The sealed line: the audit file's unit, and how a writer finds the last good one in a file.

A line is the record as JSON with `prev` (the previous line's hash) first and `hash` last, where
`hash` is the sha256 of the line's bytes up to and without `,"hash":"..."`. Records arrive here
already encoded (`encode.encode`), so sealing is a splice and one hash, done by the writer thread.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
from pathlib import Path
from typing import IO, Any, cast

from .encode import encode

__all__ = ["last_sealed", "open_trail", "seal", "seal_encoded", "unseal"]

_SEAL = re.compile(rb',"hash":"([0-9a-f]{64})"}\Z')
_WINDOW = 4096  # first look at this much of the file's end, then 4x more each time
_SCAN_LIMIT = 32 * 1024 * 1024  # a torn batch is far shorter; beyond this the last hash is lost


def seal_encoded(body: bytes, prev: str | None) -> tuple[bytes, str]:
    """The line (without newline) for an encoded record after `prev`, and its hash."""
    start = b'{"prev":null' if prev is None else b'{"prev":"' + prev.encode() + b'"'
    whole = start + (b"}" if body == b"{}" else b"," + body[1:])
    digest = hashlib.sha256(whole).hexdigest()
    return whole[:-1] + b',"hash":"' + digest.encode() + b'"}', digest


def seal(record: dict[str, Any], prev: str | None) -> tuple[bytes, str]:
    return seal_encoded(encode(record), prev)


def unseal(line: bytes) -> tuple[bytes, str] | None:
    """The sealed body and the hash a line claims, or None when it has no seal."""
    match = _SEAL.search(line)
    if match is None:
        return None
    return line[: match.start()] + b"}", match.group(1).decode()


def last_sealed(fd: int, size: int) -> tuple[str | None, int | None]:
    """The hash the file's last sealed line claims, and how many bytes follow that line (a torn
    line, or anything else no writer sealed). (None, size): no sealed line at all; (None, None):
    none within the scan limit, so the chain's head is unknown."""
    window = _WINDOW
    while True:
        start = max(0, size - window)
        data = os.pread(fd, size - start, start)
        found = _last_in(data)
        if found is not None:
            return found[0], len(data) - found[1]
        if start == 0:
            return None, size
        if window >= _SCAN_LIMIT:
            return None, None
        window *= 4


def _last_in(data: bytes) -> tuple[str, int] | None:
    """The last complete line of `data` that carries a seal: its hash and where it ends.

    The seal is at the end of a line, so a line cut at the window's start still shows it."""
    cut = data.rfind(b"\n")
    while cut >= 0:
        begin = data.rfind(b"\n", 0, cut) + 1
        sealed = unseal(data[begin:cut])
        if sealed is not None:
            return sealed[1], cut + 1
        cut = begin - 1
    return None


def open_trail(path: Path) -> IO[bytes]:
    """An audit file for reading: a rotated one a log rotator compressed (`.gz`) as its text."""
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")
