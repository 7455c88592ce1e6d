"""Session tokens at rest in a shared store: AES-GCM, bound to their key name, key-rotatable.

A stored blob is `key id (8 hex) | nonce (12 bytes) | ciphertext+tag`. The key id names which key
wrote it, so during a rotation the current key writes while previous keys still read. The Redis
key name and the token's metadata (issue, expiry and refresh times as stored) are the associated
data: a blob copied under another upstream's name, or whose times were edited in Redis, does not
decrypt, so nobody with write access to Redis but not the key can stretch a token's life.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..secrets import Secret

__all__ = ["TokenCipher", "UndecryptableToken", "token_digest"]

_KID_LEN, _NONCE_LEN = 8, 12


class UndecryptableToken(Exception):
    """A blob that no configured key opens (a retired key, or tampering)."""


class TokenCipher:
    def __init__(self, key: Secret, previous: Sequence[Secret] = ()) -> None:
        self._kid, self._aead = _open_key(key)
        self._readers = dict(_open_key(k) for k in (key, *previous))

    def encrypt(self, token: Secret, name: str, context: bytes = b"") -> bytes:
        nonce = os.urandom(_NONCE_LEN)  # random 96-bit nonces: fine far below 2**32 per key
        sealed = self._aead.encrypt(nonce, token.reveal().encode(), _associated(name, context))
        return self._kid + nonce + sealed

    def decrypt(self, blob: bytes, name: str, context: bytes = b"") -> Secret:
        kid, nonce = blob[:_KID_LEN], blob[_KID_LEN : _KID_LEN + _NONCE_LEN]
        aead = self._readers.get(kid)
        if aead is None:
            raise UndecryptableToken("written with a key that is no longer configured")
        try:
            plain = aead.decrypt(nonce, blob[_KID_LEN + _NONCE_LEN :], _associated(name, context))
            return Secret(plain.decode())
        except (InvalidTag, ValueError) as exc:  # ValueError: a cut blob, bad UTF-8
            raise UndecryptableToken("blob fails authentication") from exc


def _associated(name: str, context: bytes) -> bytes:
    return name.encode() + b"\0" + context if context else name.encode()


def token_digest(token: Secret) -> str:
    """What Lua compares for compare-and-delete: the token itself is never stored in clear."""
    return hashlib.sha256(token.reveal().encode()).hexdigest()


def _open_key(key: Secret) -> tuple[bytes, AESGCM]:
    raw = base64.urlsafe_b64decode(key.reveal().encode())
    return hashlib.sha256(raw).hexdigest()[:_KID_LEN].encode(), AESGCM(raw)
