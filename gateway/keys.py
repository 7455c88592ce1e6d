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

__all__ = ["Identity", "Keyring", "presented_key"]


@dataclass(frozen=True, slots=True)
class Identity:
    caller: CallerSettings
    key: CallerKey


class Keyring:
    def __init__(self, callers: Mapping[str, CallerSettings]) -> None:
        self._by_digest = {
            key.digest: Identity(caller, key) for caller in callers.values() for key in caller.keys
        }

    def identify(self, headers: CIMultiDictProxy[str], body: Mapping[str, object]) -> Identity:
        """The caller behind a request: header key first, else OMA-style body credentials."""
        key, claimed = _presented_key(headers, body)
        identity = self._by_digest.get(digest(key)) if key else None
        if identity is None or (claimed is not None and claimed != identity.caller.name):
            raise Unauthenticated()
        expires = identity.key.expires
        if expires is not None and expires.timestamp() <= time.time():
            raise Unauthenticated()
        return identity


def presented_key(headers: CIMultiDictProxy[str], body: Mapping[str, object]) -> Secret | None:
    """The key the request carries, valid or not (so logs can redact even a mistyped key)."""
    key, _ = _presented_key(headers, body)
    return Secret(key) if key else None


def _presented_key(
    headers: CIMultiDictProxy[str], body: Mapping[str, object]
) -> tuple[str | None, str | None]:
    """The key, and the caller name it claims (OMA-style body credentials name their user)."""
    authorization = headers.get("Authorization")
    if authorization is not None:
        scheme, _, key = authorization.partition(" ")
        return (key.strip() if scheme.lower() == "bearer" else None), None
    if "X-API-Key" in headers:
        return headers["X-API-Key"].strip(), None
    credentials = body.get("credentials")
    if isinstance(credentials, dict):
        user, password = credentials.get("user"), credentials.get("password")
        if isinstance(user, str) and isinstance(password, str):
            return password, user
    return None, None
