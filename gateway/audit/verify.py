"""`oma-gateway audit verify FILE...`: check an audit file's hash chain.

Each line must carry a seal that matches its bytes, and (after the first line of the first file)
a `prev` equal to the hash of the line before it. Files given together are checked as one chain
in the order given (oldest rotated file first), so a rotation that lost or altered lines shows.
The first line of the first file must be a `chain_start`; its `prev` points outside what was
given and cannot be checked. The answer names the first broken line; everything after it is
unverified, since a chain proves order only up to its first break.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from .chain import unseal

__all__ = ["Break", "verify_files"]


@dataclass(frozen=True, slots=True)
class Break:
    file: Path
    line: int  # 1-based
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass(slots=True)
class Verified:
    lines: int = 0
    segments: int = 0
    last_hash: str | None = None


def verify_files(paths: Iterable[Path]) -> tuple[Verified, Break | None]:
    state = Verified()
    for path in paths:
        for number, line in _lines(path):
            problem = _check(line, state)
            if problem is not None:
                return state, Break(path, number, problem)
    if state.lines == 0:
        return state, Break(Path("-"), 0, "no audit lines")
    return state, None


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as file:
        yield from enumerate(file, start=1)


def _check(line: bytes, state: Verified) -> str | None:
    if not line.endswith(b"\n"):
        return "torn line (no newline): the writer stopped mid-record"
    sealed = unseal(line[:-1])
    if sealed is None:
        return "no seal: not a line the audit writer made"
    body, claimed = sealed
    problem = _link(body, claimed, state)
    if problem is None:
        state.lines += 1
        state.last_hash = claimed
    return problem


def _link(body: bytes, claimed: str, state: Verified) -> str | None:
    if hashlib.sha256(body).hexdigest() != claimed:
        return "hash does not match the line: the line was altered"
    try:
        record = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "not JSON"
    if not isinstance(record, dict):
        return "not a JSON object"
    if record.get("event") == "chain_start":
        state.segments += 1
    if state.lines == 0:
        return None if record.get("event") == "chain_start" else "first line is not a chain_start"
    if record.get("prev") != state.last_hash:
        return "prev does not match the line before: a line was removed, inserted or altered"
    return None
