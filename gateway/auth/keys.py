"""Callers' API keys, matched by digest, and the identity an authenticator answers with.

Keys are never stored, only their `sha256:` digests, so a leaked config leaks no key. A presented
key is hashed and looked up; an unknown or expired key is simply no identity: the seam
(`auth.seam`) turns every failure into the one `Unauthenticated`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ..secrets import Secret, digest
from ..settings import CallerKey, CallerSettings

__all__ = ["Identity", "Keyring", "Via"]

#: Which authenticator identified the caller (audited; a bounded metric label).
Via = Literal["header_key", "body_key", "session_token", "client_cert"]


@dataclass(frozen=True, slots=True)
class Identity:
    caller: CallerSettings
    key: CallerKey | None  # None for a client certificate, which needs no key
    via: Via = "header_key"
    token_id: str | None = None  # a caller session token's id (a digest prefix), never the token


class Keyring:
    def __init__(self, callers: Mapping[str, CallerSettings]) -> None:
        self._by_digest = {
            key.digest: (caller, key) for caller in callers.values() for key in caller.keys
        }

    def find(self, key: Secret) -> tuple[CallerSettings, CallerKey] | None:
        """The caller and key behind `key`, while the key is configured and not expired."""
        return self.find_digest(digest(key.reveal()))

    def find_digest(self, key_digest: str) -> tuple[CallerSettings, CallerKey] | None:
        found = self._by_digest.get(key_digest)
        if found is None:
            return None
        expires = found[1].expires
        if expires is not None and expires.timestamp() <= time.time():
            return None
        return found
