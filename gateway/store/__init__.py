"""Shared state behind narrow interfaces: `memory://` in process, `redis://` for a fleet."""

from __future__ import annotations

from ..settings import StoreSettings
from .base import (
    CallerTokens,
    Decision,
    Limiter,
    LimitRule,
    LimitState,
    SessionStore,
    Store,
    StoredToken,
    TokenGrant,
)
from .memory import MemoryStore

__all__ = [
    "CallerTokens",
    "Decision",
    "LimitRule",
    "LimitState",
    "Limiter",
    "SessionStore",
    "Store",
    "StoredToken",
    "TokenGrant",
    "open_store",
]


def open_store(settings: StoreSettings) -> Store:
    """The store the URL names; connects lazily, so no I/O happens here."""
    if settings.url.startswith("memory://"):
        return MemoryStore()
    from .resilient import ResilientStore  # imported here: memory:// never loads redis-py

    return ResilientStore(settings)
