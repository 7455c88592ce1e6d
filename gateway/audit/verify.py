"""`oma-gateway audit verify FILE...`: check an audit trail's hash chain and its signatures.

Files given together are one chain in the order given (oldest rotated file first). Each line must
carry a seal matching its bytes and a `prev` equal to the hash of the line before. The first line
must start a chain: a genesis `chain_start` (prev null), or a checkpoint that opens a file rotated
from a previous one (`opens`); without a public key, any `chain_start` (its `prev` points outside
what was given). A run of broken lines followed by a recovery record whose `torn_bytes` is their
exact length and whose `prev` is the last good hash is a torn write the writer recovered from:
reported, not a break.

With public keys, every checkpoint's signature must verify with the key it names (by `key_id`;
several keys for a trail signed across a key rotation), and every line must be followed by a
valid checkpoint: a signature vouches for the whole chain before it, so a record rewritten, removed
or inserted and the chain re-sealed shows at the next checkpoint; the problem then names the first
line after the last checkpoint that did verify, the first line nothing vouches for. With an
expected head (from the stdout copy of a checkpoint), the chain must reach that hash: cutting
records from the end shows. The answer is the first problem; later lines are unverified.
Rotated files compressed by a log rotator (`.gz`) are read as the text they hold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .lines import open_trail, unseal
from .sign import key_id, signature_valid

__all__ = ["Break", "Verified", "verify_files"]


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
    checkpoints: int = 0
    torn_bytes: int = 0
    last_hash: str | None = None
    expected_reached: bool = False
    #: The first line no valid checkpoint vouches for yet, and how many lines follow it.
    unsigned_from: tuple[Path, int] | None = None
    unsigned: int = 0
    bad: tuple[Path, int, str] | None = None  # a broken line, until a recovery record explains it
    bad_bytes: int = 0
    seqs: dict[str, int] = field(default_factory=dict)
    where: tuple[Path, int] = (Path("-"), 0)


@dataclass(frozen=True, slots=True)
class Options:
    #: The keys checkpoints may be signed with, by key id; empty: signatures are not checked.
    public_keys: Mapping[str, Ed25519PublicKey] = field(default_factory=dict)
    expect_head: str | None = None

    @property
    def signed(self) -> bool:
        return bool(self.public_keys)


def verify_files(
    paths: Iterable[Path],
    public_keys: Iterable[Ed25519PublicKey] = (),
    expect_head: str | None = None,
) -> tuple[Verified, Break | None]:
    state = Verified()
    options = Options({key_id(public): public for public in public_keys}, expect_head)
    for path in paths:
        for number, line in _lines(path):
            state.where = (path, number)
            problem = _feed(line, state, options)
            if problem is not None:
                return state, problem
    return state, _end(state, options)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with open_trail(path) as file:
        yield from enumerate(file, start=1)


def _feed(line: bytes, state: Verified, options: Options) -> Break | None:
    parsed = _parse(line)
    if isinstance(parsed, str):
        state.bad = state.bad or (*state.where, parsed)
        state.bad_bytes += len(line)
        return None
    record, claimed = parsed
    if state.bad is not None:
        if record.get("torn_bytes") != state.bad_bytes or record.get("prev") != state.last_hash:
            return Break(*state.bad)
        state.torn_bytes, state.bad, state.bad_bytes = state.torn_bytes + state.bad_bytes, None, 0
    problem = _link(record, state, options) or _sign(record, state, options)
    if problem is not None:
        return problem
    state.lines += 1
    state.last_hash = claimed
    if options.expect_head in (claimed, record.get("head")):
        state.expected_reached = True
    return None


def _parse(line: bytes) -> tuple[dict[str, Any], str] | str:
    if not line.endswith(b"\n"):
        return "torn line (no newline): the writer stopped mid-record"
    sealed = unseal(line[:-1])
    if sealed is None:
        return "no seal: not a line the audit writer made"
    body, claimed = sealed
    if hashlib.sha256(body).hexdigest() != claimed:
        return "hash does not match the line: the line was altered"
    try:
        record = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "not JSON"
    if not isinstance(record, dict):
        return "not a JSON object"
    return record, claimed


def _link(record: dict[str, Any], state: Verified, options: Options) -> Break | None:
    event, prev = record.get("event"), record.get("prev")
    if event == "chain_start":
        state.segments += 1
    if state.lines == 0:
        return _first(record, state, options)
    if event == "chain_start" and prev is None:  # a new chain: the file began anew, empty
        return _covered(state, options, "before a new chain begins")
    if prev != state.last_hash:
        return _here(
            state, "prev does not match the line before: a line was removed, inserted or altered"
        )
    return None


def _first(record: dict[str, Any], state: Verified, options: Options) -> Break | None:
    event, prev = record.get("event"), record.get("prev")
    if event == "chain_start" and (prev is None or not options.signed):
        return None
    if event == "checkpoint" and record.get("opens") and record.get("head") == prev:
        return None
    return _here(
        state,
        "the first line is neither a chain's genesis (chain_start with prev null) nor a "
        "checkpoint opening a rotated file: records before it were removed",
    )


def _sign(record: dict[str, Any], state: Verified, options: Options) -> Break | None:
    """Signatures and coverage: only with public keys."""
    if not options.signed:
        return None
    if record.get("event") != "checkpoint":
        state.unsigned_from = state.unsigned_from or state.where
        state.unsigned += 1
        return None
    public = options.public_keys.get(str(record.get("key_id")))  # the key it names, if given
    unsigned = public is None or not signature_valid(public, record)
    if record.get("head") != record.get("prev") or unsigned:
        return _unvouched(state, record, options)
    writer, seq = str(record.get("writer")), record.get("seq")
    if not isinstance(seq, int) or seq <= state.seqs.get(writer, 0):
        return _here(state, f"checkpoint seq {seq} does not follow {state.seqs.get(writer)}")
    state.seqs[writer] = seq
    state.checkpoints += 1
    state.unsigned_from, state.unsigned = None, 0
    return None


def _unvouched(state: Verified, record: dict[str, Any], options: Options) -> Break:
    path, line = state.where
    start = state.unsigned_from or state.where
    signer = record.get("key_id")
    given = "this key" if len(options.public_keys) == 1 else "one of the keys given"
    other = "" if signer in options.public_keys else f" (it names key {signer}, not {given})"
    return Break(
        *start,
        f"the checkpoint at {path}:{line} does not verify{other}: lines {start[1]}..{line} are "
        "not what was signed (a record was rewritten, removed or inserted and re-sealed)",
    )


def _covered(state: Verified, options: Options, where: str) -> Break | None:
    if not options.signed or state.unsigned_from is None:
        return None
    return Break(
        *state.unsigned_from, f"{state.unsigned} lines {where} are covered by no checkpoint"
    )


def _end(state: Verified, options: Options) -> Break | None:
    if state.bad is not None:
        path, line, reason = state.bad
        return Break(path, line, f"{reason} ({state.bad_bytes} bytes, never recovered)")
    if state.lines == 0:
        return Break(Path("-"), 0, "no audit lines")
    if options.signed and state.unsigned_from is not None:
        return Break(
            *state.unsigned_from,
            f"an unsigned tail of {state.unsigned} lines: no checkpoint follows them (appended "
            "after the last signature, or a running writer has not signed them yet: it does "
            "within checkpoint_interval and at close)",
        )
    if options.expect_head is not None and not state.expected_reached:
        return _here(
            state,
            f"the chain never reaches the expected head {options.expect_head}: records were "
            "cut from the end",
        )
    return None


def _here(state: Verified, reason: str) -> Break:
    return Break(*state.where, reason)
