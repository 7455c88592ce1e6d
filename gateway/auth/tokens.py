"""Callers' own session tokens: OMA's token mode, answered by the gateway and never forwarded.

`authenticate` with `generate_session_token: true` mints an opaque token (256 random bits) bound
to the caller and the key it authenticated with; only its sha256 digest is stored (in the shared
store, so every replica knows it and it survives restarts with Redis). A token dies with its
key: the grant names the key's digest, and a key no longer configured (or expired) identifies
nobody. A caller-chosen top-level `token` is never used.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from ..secrets import Secret
from ..settings import SessionTokenSettings
from ..store import CallerTokens, TokenGrant
from .keys import Identity

__all__ = [
    "PREFIX",
    "CallerSessions",
    "can_hold_tokens",
    "naming_minted",
    "token_digest",
    "token_id",
    "wants_token",
]

PREFIX = "omagw_st_"  # so secret scanners (and people) can tell a caller token from a key
_DEFAULT_SECONDS = 10800  # OMA's default session_token_duration


def token_digest(token: Secret) -> str:
    return hashlib.sha256(token.reveal().encode()).hexdigest()


def token_id(token: Secret) -> str:
    """What the audit may name: a prefix of the digest, never the token."""
    return token_digest(token)[:12]


def wants_token(body: Mapping[str, Any]) -> bool:
    """`generate_session_token: true`, or the plain `1` that Perl's JSON sends for Perl's true."""
    asked = body.get("generate_session_token")
    return asked is True or (type(asked) is int and asked == 1)


def can_hold_tokens(identity: Identity) -> bool:
    """Tokens are bound to a key (they die with it): a caller known by certificate alone, or one
    with `session_tokens: false`, gets none."""
    return identity.key is not None and identity.caller.session_tokens is not None


def naming_minted(identity: Identity, answer: Mapping[str, Any]) -> Identity:
    """The identity an `authenticate` is audited with: when it minted a token, that token's id
    (so the trail links the calls made with it to where it came from), never the token."""
    minted = answer.get("session_token")
    if not isinstance(minted, str):
        return identity
    return replace(identity, token_id=token_id(Secret(minted)))


class CallerSessions:
    def __init__(self, store: CallerTokens, clock: Callable[[], float] = time.time) -> None:
        self._store, self._clock = store, clock

    async def answer(self, identity: Identity, body: Mapping[str, Any]) -> dict[str, Any]:
        """OMA's answer to `authenticate`: a new token when asked for one, else just success."""
        if not wants_token(body):
            return {"success": True}
        rules = identity.caller.session_tokens
        assert rules is not None and identity.key is not None  # checked by the caller
        seconds = _duration(body.get("session_token_duration"), rules)
        token = Secret(PREFIX + secrets.token_urlsafe(32))
        grant = TokenGrant(identity.caller.name, identity.key.digest, self._clock() + seconds)
        await self._store.put(token_digest(token), grant)
        return {"success": True, "session_token": token.reveal(), "session_token_duration": seconds}

    async def find(self, token: Secret) -> TokenGrant | None:
        return await self._store.get(token_digest(token))


def _duration(asked: object, rules: SessionTokenSettings) -> int:
    seconds = asked if isinstance(asked, int) and not isinstance(asked, bool) else _DEFAULT_SECONDS
    return max(1, min(seconds, int(rules.max_lifetime)))
