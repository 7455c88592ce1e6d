"""Shared state behind narrow interfaces: `memory://` in process, `redis://` for a fleet."""

from __future__ import annotations

import os

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
    "WORKERS_ENV",
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
    "workers_of_this_pod",
]

#: Set by the supervisor (`workers.py`) for its workers: how many processes of this pod share
#: the store. A process started alone is one.
WORKERS_ENV = "OMA_GATEWAY_WORKERS"


def open_store(settings: StoreSettings, *, workers: int | None = None) -> Store:
    """The store the URL names; connects lazily, so no I/O happens here. `workers` (default:
    what the supervisor said) divides the outage fallback budget, with `store.replicas`."""
    if settings.url.startswith("memory://"):
        return MemoryStore()
    from .resilient import ResilientStore  # imported here: memory:// never loads redis-py

    return ResilientStore(settings, workers=workers or workers_of_this_pod())


def workers_of_this_pod() -> int:
    try:
        return max(1, int(os.environ.get(WORKERS_ENV, "1")))
    except ValueError:
        return 1
