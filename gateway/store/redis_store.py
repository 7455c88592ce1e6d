"""The Redis backend: the same contract as `memory`, shared by every replica of a fleet.

This layer talks to Redis and nothing else; its errors propagate. `resilient` wraps it with
timeouts, the circuit breaker and the in-process fallbacks.

Key layout (every key of one upstream carries the hash tag `{upstream}`, so each script touches
one Redis Cluster slot; the `oma-gw:` prefix keeps a shared Redis tidy):

    oma-gw:{oma}:session         hash: blob (AES-GCM), digest, issued_at, expires_at, refresh_at
    oma-gw:{oma}:session:lease   random value while one replica logs in (SET NX PX)
    oma-gw:{oma}:caller:billing  GCRA TAT, from limits.py's rule keys
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from ..secrets import Secret
from ..settings import StoreSettings
from .base import Decision, LimitRule, LimitState, StoredToken
from .coalesce import Coalescer
from .connect import connect
from .crypto import TokenCipher, UndecryptableToken, token_digest
from .scripts import DISCARD_SESSION, GCRA, RELEASE, SAVE_SESSION, Client, Script

__all__ = ["PREFIX", "RedisLease", "RedisLimiter", "RedisSessions", "RedisStore"]

PREFIX = "oma-gw:"


def session_key(upstream: str) -> str:
    return f"{PREFIX}{{{upstream}}}:session"


@dataclass(frozen=True, slots=True)
class RedisLease:
    key: str
    value: str


class RedisSessions:
    _save, _discard, _release = Script(SAVE_SESSION), Script(DISCARD_SESSION), Script(RELEASE)

    def __init__(self, client: Client, cipher: TokenCipher) -> None:
        self._client = client
        self._cipher = cipher

    async def load(self, upstream: str) -> StoredToken | None:
        key = session_key(upstream)
        fields = await self._client.hgetall(key)
        if not fields:
            return None
        try:
            token = self._cipher.decrypt(_bytes(fields[b"blob"]), key)
        except (UndecryptableToken, KeyError):
            return None  # as if absent: custody logs in and overwrites it with the current key
        return StoredToken(
            token=token,
            issued_at=float(fields[b"issued_at"]),
            expires_at=float(fields[b"expires_at"]),
            refresh_at=float(fields[b"refresh_at"]),
        )

    async def save(self, upstream: str, token: StoredToken) -> None:
        key = session_key(upstream)
        args = [
            self._cipher.encrypt(token.token, key),
            token_digest(token.token),
            repr(token.issued_at),
            repr(token.expires_at),
            repr(token.refresh_at),
            int(token.expires_at * 1000),  # gone from Redis when OMA stops honouring it
        ]
        await self._save(self._client, [key], args)

    async def discard(self, upstream: str, token: Secret) -> bool:
        dropped = await self._discard(self._client, [session_key(upstream)], [token_digest(token)])
        return bool(dropped)

    async def acquire_lease(self, upstream: str, ttl: float) -> object | None:
        lease = RedisLease(session_key(upstream) + ":lease", secrets.token_hex(16))
        won = await self._client.set(lease.key, lease.value, nx=True, px=max(1, int(ttl * 1000)))
        return lease if won else None

    async def release_lease(self, upstream: str, lease: object) -> None:
        if isinstance(lease, RedisLease):
            await self._release(self._client, [lease.key], [lease.value])


class RedisLimiter:
    """GCRA in one Lua script: every rule of a call checked and consumed in one round trip."""

    def __init__(self, client: Client, *, coalesce: bool = True) -> None:
        script = Script(GCRA)
        self._coalescer = Coalescer(client, script) if coalesce else None
        self._run = self._coalescer or functools.partial(script, client)

    async def check(self, rules: Sequence[LimitRule]) -> Decision:
        keys = [PREFIX + rule.key for rule in rules]
        args: list[object] = []
        for rule in rules:
            spec = rule.spec
            args += [repr(spec.emission_interval), spec.burst, int(spec.shadow)]
        results = await self._run(keys, args)
        return Decision(tuple(_state(rule, row) for rule, row in zip(rules, results, strict=True)))

    async def close(self) -> None:
        if self._coalescer is not None:
            await self._coalescer.close()


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _state(rule: LimitRule, row: Sequence[int]) -> LimitState:
    allowed, remaining, reset_ms, retry_ms = row
    return LimitState(rule, bool(allowed), int(remaining), reset_ms / 1000, retry_ms / 1000)


class RedisStore:
    """The bare Redis store: one client (one pool) for sessions and limits."""

    def __init__(self, settings: StoreSettings, *, coalesce: bool = True) -> None:
        if settings.encryption_key is None:
            raise ValueError("a shared store needs store.encryption_key_env")
        self.client = connect(settings.url, settings.timeout, settings.ca_file)
        cipher = TokenCipher(settings.encryption_key, settings.previous_encryption_keys)
        self.sessions = RedisSessions(self.client, cipher)
        self.limiter = RedisLimiter(self.client, coalesce=coalesce)

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def close(self) -> None:
        await self.limiter.close()
        await self.client.aclose()
