"""Who is calling: API keys matched by digest.

Keys are never stored, only their `sha256:` digests, so a leaked config leaks no key. A presented
key is hashed and looked up; every failure (no key, unknown, revoked, expired, wrong caller name)
gives the same `Unauthenticated` so a prober learns nothing about which keys exist.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from multidict import CIMultiDictProxy

from .errors import Unauthenticated
from .secrets import Secret, digest
from .settings import CallerKey, CallerSettings

__all__ = ["Identity", "Keyring", "PresentedKey", "presented_key"]


@dataclass(frozen=True, slots=True)
class Identity:
    caller: CallerSettings
    key: CallerKey


@dataclass(frozen=True, slots=True)
class PresentedKey:
    """What a request offers as its key, read once: the key (valid or not, so logs can redact
    even a mistyped one) and the caller name that OMA-style body credentials claim with it."""

    key: Secret | None
    claimed: str | None = None


class Keyring:
    def __init__(self, callers: Mapping[str, CallerSettings]) -> None:
        self._by_digest = {
            key.digest: Identity(caller, key) for caller in callers.values() for key in caller.keys
        }

    def identify(self, presented: PresentedKey) -> Identity:
        """The caller behind the presented key; one `Unauthenticated` for every failure."""
        key, claimed = presented.key, presented.claimed
        identity = self._by_digest.get(digest(key.reveal())) if key else None
        if identity is None or (claimed is not None and claimed != identity.caller.name):
            raise Unauthenticated()
        expires = identity.key.expires
        if expires is not None and expires.timestamp() <= time.time():
            raise Unauthenticated()
        return identity


def presented_key(headers: CIMultiDictProxy[str], body: Mapping[str, object]) -> PresentedKey:
    """The key a request carries: header key first, else OMA-style body credentials."""
    authorization = headers.get("Authorization")
    if authorization is not None:
        scheme, _, key = authorization.partition(" ")
        return PresentedKey(_secret(key) if scheme.lower() == "bearer" else None)
    if "X-API-Key" in headers:
        return PresentedKey(_secret(headers["X-API-Key"]))
    credentials = body.get("credentials")
    if isinstance(credentials, dict):
        user, password = credentials.get("user"), credentials.get("password")
        if isinstance(user, str) and isinstance(password, str):
            return PresentedKey(_secret(password), claimed=user)
    return PresentedKey(None)


def _secret(text: str) -> Secret | None:
    text = text.strip()
    return Secret(text) if text else None
