"""Signed checkpoints: what makes the audit chain evidence against whoever can write the file.

A hash chain alone proves nothing against an insider with write access: they can rewrite a line
and re-seal every later one. A checkpoint record signs the chain head (the hash of the line before
it, which commits to every earlier line) with an Ed25519 key the file's writers never see
published. Re-sealing after a rewrite, a deletion or an insertion changes every later head, so the
next checkpoint's signature no longer matches; a record appended after the last checkpoint is
covered by none. The signature covers the checkpoint's own fields (head, sequence number, writer,
time, why it was written), serialized with sorted keys, behind a domain-separation prefix.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import os
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["Signer", "key_id", "keygen", "load_public_key", "signature_valid"]

_PREFIX = b"oma-gateway audit checkpoint v1\n"


class Signer:
    """Builds the signed checkpoint records of one writer (its own sequence numbers)."""

    def __init__(self, private_pem: str, writer: str) -> None:
        key = serialization.load_pem_private_key(private_pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("not an Ed25519 private key")
        self._key = key
        self.key_id = key_id(key.public_key())
        self.writer = writer
        self.seq = 0

    def checkpoint(self, head: str | None, **why: Any) -> dict[str, Any]:
        """The next checkpoint over `head`; `why` adds fields such as `opens` or `torn_bytes`."""
        self.seq += 1
        record: dict[str, Any] = {
            "event": "checkpoint", "head": head, "seq": self.seq, "writer": self.writer,
            "key_id": self.key_id, "time": _now(), **why,
        }  # fmt: skip
        record["sig"] = base64.b64encode(self._key.sign(_message(record))).decode()
        return record


def signature_valid(public: Ed25519PublicKey, record: dict[str, Any]) -> bool:
    """Whether a checkpoint record (as read back from the file, without prev/hash) is signed."""
    fields = {k: v for k, v in record.items() if k not in ("prev", "hash", "sig")}
    try:
        public.verify(base64.b64decode(str(record.get("sig")), validate=True), _message(fields))
    except (InvalidSignature, ValueError):
        return False
    return True


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def key_id(public: Ed25519PublicKey) -> str:
    """A short name for a key, written in every checkpoint so a reviewer knows which to use."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def keygen(out: Path) -> bytes:
    """A new private key in `out` (created, mode 0600, never overwritten); its public PEM."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(private)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _message(fields: dict[str, Any]) -> bytes:
    body = {k: v for k, v in fields.items() if k != "sig"}
    return _PREFIX + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")
