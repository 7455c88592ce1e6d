"""The Redis backend: the same contract as `memory`, shared by every replica of a fleet.

This layer talks to Redis and nothing else; its errors propagate. `resilient` wraps it with
timeouts, the circuit breaker and the in-process fallbacks.

Key layout (every key of one upstream carries the hash tag `{upstream}`, so each script touches
one Redis Cluster slot; the `oma-gw:` prefix keeps a shared Redis tidy):

    oma-gw:{oma}:session         hash: blob (AES-GCM), digest, issued_at, expires_at, refresh_at
    oma-gw:{oma}:session:lease   random value while one replica logs in (SET NX PX)
    oma-gw:{oma}:login:blocked   present (PX) while the fleet backs off after a rejected login
    oma-gw:{oma}:login:failures  rejected logins in a row, for the next back-off step
    oma-gw:{oma}:caller:billing  GCRA TAT, from limits.py's rule keys
    oma-gw:ctoken:<sha256>       a caller session token's grant (AES-GCM, bound to the key
                                 name, so a grant written by anyone without the store key, or
                                 copied under another token's name, does not open), with a TTL

Nothing read back is trusted: the times are authenticated with the token (AES-GCM associated
data), and whatever does not parse, has another type or fails authentication is treated as
absent (logged once per read), so custody logs in and overwrites it.
"""

from __future__ import annotations

import functools
import json
import math
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import structlog
from redis.exceptions import ResponseError

from ..secrets import Secret
from ..settings import StoreSettings
from .base import Decision, LimitRule, LimitState, StoredToken, TokenGrant
from .coalesce import Coalescer
from .connect import connect
from .crypto import TokenCipher, UndecryptableToken, token_digest
from .scripts import (
    DISCARD_SESSION,
    GCRA,
    LOGIN_REJECTED,
    RELEASE,
    REPAIR_LEASE,
    SAVE_SESSION,
    Client,
    Script,
)

__all__ = [
    "PREFIX",
    "RedisCallerTokens",
    "RedisLease",
    "RedisLimiter",
    "RedisSessions",
    "RedisStore",
]

log = structlog.get_logger(__name__)

PREFIX = "oma-gw:"
_TIMES = (b"issued_at", b"expires_at", b"refresh_at")


def session_key(upstream: str) -> str:
    return f"{PREFIX}{{{upstream}}}:session"


@dataclass(frozen=True, slots=True)
class RedisLease:
    key: str
    value: str


class RedisSessions:
    _save, _discard = Script(SAVE_SESSION), Script(DISCARD_SESSION)
    _repair, _release = Script(REPAIR_LEASE), Script(RELEASE)
    _rejected = Script(LOGIN_REJECTED)

    def __init__(self, client: Client, cipher: TokenCipher) -> None:
        self._client = client
        self._cipher = cipher

    async def load(self, upstream: str) -> StoredToken | None:
        key = session_key(upstream)
        try:
            fields = await self._client.hgetall(key)
        except ResponseError:  # WRONGTYPE: not a hash, so not ours
            return _unusable(upstream, "wrong_type")
        return self._token(upstream, key, fields) if fields else None

    def _token(
        self, upstream: str, key: str, fields: Mapping[bytes | str, bytes | str]
    ) -> StoredToken | None:
        try:
            stamps = [_bytes(fields[name]) for name in _TIMES]
            times = [float(stamp) for stamp in stamps]
            token = self._cipher.decrypt(_bytes(fields[b"blob"]), key, b"|".join(stamps))
        except (KeyError, ValueError, UndecryptableToken):
            # As if absent: custody logs in and overwrites it (with the current key, if the key
            # rotated away from what wrote it).
            return _unusable(upstream, "unreadable")
        if not all(map(math.isfinite, times)):
            return _unusable(upstream, "unreadable")
        return StoredToken(token, *times)

    async def save(self, upstream: str, token: StoredToken) -> None:
        key = session_key(upstream)
        stamps = [repr(token.issued_at), repr(token.expires_at), repr(token.refresh_at)]
        context = "|".join(stamps).encode()
        args = [
            self._cipher.encrypt(token.token, key, context),
            token_digest(token.token),
            *stamps,
            int(token.expires_at * 1000),  # gone from Redis when OMA stops honouring it
        ]
        await self._save(self._client, [key], args)

    async def discard(self, upstream: str, token: Secret) -> bool:
        dropped = await self._discard(self._client, [session_key(upstream)], [token_digest(token)])
        return bool(dropped)

    async def acquire_lease(self, upstream: str, ttl: float) -> object | None:
        lease = RedisLease(session_key(upstream) + ":lease", secrets.token_hex(16))
        if await self._client.set(lease.key, lease.value, nx=True, px=_ms(ttl)):
            return lease
        # Held: by a replica (a sane TTL), or by something that never expires (repaired here).
        if not await self._repair(self._client, [lease.key], [lease.value, _ms(ttl)]):
            return None
        log.warning("store_lease_repaired", upstream=upstream, reason="no_ttl")
        return lease

    async def release_lease(self, upstream: str, lease: object) -> None:
        if isinstance(lease, RedisLease):
            await self._release(self._client, [lease.key], [lease.value])

    async def login_blocked(self, upstream: str) -> float:
        left = await self._client.pttl(_login_keys(upstream)[0])
        return max(0, int(left)) / 1000  # -1 (no TTL) or -2 (absent): not blocked

    async def login_rejected(self, upstream: str, first: float, cap: float) -> float:
        args = [_ms(first), _ms(cap), _ms(cap * 4)]
        return int(await self._rejected(self._client, list(_login_keys(upstream)), args)) / 1000

    async def login_succeeded(self, upstream: str) -> None:
        await self._client.delete(*_login_keys(upstream))


def _login_keys(upstream: str) -> tuple[str, str]:
    base = f"{PREFIX}{{{upstream}}}:login"
    return f"{base}:blocked", f"{base}:failures"


def _unusable(upstream: str, reason: str) -> StoredToken | None:
    log.warning("store_session_unusable", upstream=upstream, reason=reason)
    return None


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisCallerTokens:
    def __init__(self, client: Client, cipher: TokenCipher) -> None:
        self._client = client
        self._cipher = cipher

    async def put(self, token_digest: str, grant: TokenGrant) -> None:
        key = f"{PREFIX}ctoken:{token_digest}"
        plain = json.dumps([grant.caller, grant.key_digest, grant.expires_at, grant.url])
        ttl_ms = max(1, int((grant.expires_at - time.time()) * 1000))
        await self._client.set(key, self._cipher.encrypt(Secret(plain), key), px=ttl_ms)

    async def get(self, token_digest: str) -> TokenGrant | None:
        key = f"{PREFIX}ctoken:{token_digest}"
        blob = await self._client.get(key)
        if blob is None:
            return None
        try:
            plain = self._cipher.decrypt(_bytes(blob), key).reveal()
            caller, key_digest, expires_at, url = json.loads(plain)
            grant = TokenGrant(str(caller), str(key_digest), float(expires_at), str(url))
        except (UndecryptableToken, ValueError, TypeError):
            return None  # unreadable is absent: the caller authenticates again
        return grant if grant.expires_at > time.time() else None


class RedisLimiter:
    """GCRA in one Lua script: every rule of a call checked and consumed in one round trip."""

    def __init__(self, client: Client, *, coalesce: bool = True, lean: bool = True) -> None:
        script = Script(GCRA)
        self._coalescer = Coalescer(client, script, lean=lean) if coalesce else None
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
        self.client = connect(
            settings.url, settings.timeout, password=settings.password, ca_file=settings.ca_file
        )
        cipher = TokenCipher(settings.encryption_key, settings.previous_encryption_keys)
        self.sessions = RedisSessions(self.client, cipher)
        self.limiter = RedisLimiter(self.client, coalesce=coalesce)
        self.caller_tokens = RedisCallerTokens(self.client, cipher)

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def close(self) -> None:
        await self.limiter.close()
        await self.client.aclose()
