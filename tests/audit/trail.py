"""Helpers for audit trail tests: a signing key made by the real CLI, signed trails, re-sealing."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import orjson

from gateway.audit.chain import ChainWriter
from gateway.audit.lines import seal, unseal
from gateway.audit.sign import Signer

from ..support import cli


def make_key(root: Path) -> tuple[Path, Path]:
    """`oma-gateway audit keygen`: the private key file and the public key (PEM) it printed."""
    private, public = root / "audit-key.pem", root / "audit-key.pub"
    result = cli("audit", "keygen", "--out", str(private))
    assert result.returncode == 0, result.stderr
    public.write_text(result.stdout)
    return private, public


def signed_writer(path: Path, private: Path, interval: float = 0.0, **kw: Any) -> ChainWriter:
    signer = Signer(private.read_text(), writer=os.urandom(6).hex())
    writer = ChainWriter(path, signer=signer, checkpoint_interval=interval, **kw)
    writer.start()
    return writer


def write_bursts(path: Path, private: Path, bursts: int = 3, per: int = 4) -> None:
    """A signed trail: bursts of records, each burst followed by a checkpoint."""
    writer = signed_writer(path, private)
    for burst in range(bursts):
        before = writer.written
        for n in range(per):
            writer.submit({"event": "audit", "method": "change_user", "n": burst * per + n})
        wait_for(lambda b=before: writer.written >= b + per + 1)
    writer.close()


def records(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def reseal_from(raw: list[bytes], start: int) -> list[bytes]:
    """What an insider does after editing line `start` (0-based): re-seal it and every later
    line, so the hash chain alone looks intact."""
    out = raw[:start]
    prev = records_of(out[-1])["hash"] if out else None
    for line in raw[start:]:
        sealed = unseal(line.rstrip(b"\n"))
        assert sealed is not None
        record = orjson.loads(sealed[0])
        record.pop("prev")
        body, prev = seal(record, prev)
        out.append(body + b"\n")
    return out


def records_of(line: bytes) -> dict[str, Any]:
    record: dict[str, Any] = orjson.loads(line)
    return record


def index_of(raw: list[bytes], **fields: Any) -> int:
    return next(
        i
        for i, line in enumerate(raw)
        if all(records_of(line).get(k) == v for k, v in fields.items())
    )


def last_checkpoint_before(raw: list[bytes], index: int) -> int:
    return max(i for i in range(index) if records_of(raw[i])["event"] == "checkpoint")


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)
