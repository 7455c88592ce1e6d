"""Issued tokens: session tokens from authenticate and the kinds generate_token mints.

A token is bound to one user and ends at issue time + duration (no sliding renewal, §6).
`oma` tokens, and `session`/`sso` tokens minted with `oma: true`, authenticate OMA calls;
an `sso` token dies after its first successful login (§5).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from gateway.sandbox.clock import Clock

TokenKind = Literal["oma", "session", "sso"]
# Expired tokens are only noticed when presented; a sweep whenever the store doubles keeps
# long benchmark runs from growing it without bound, at amortised constant cost per issue.
_FIRST_SWEEP = 1024


@dataclass(slots=True)
class Token:
    value: str
    user: str
    kind: TokenKind
    for_oma: bool
    expires_at: float


class TokenStore:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        # Keyed by the token string itself: a lookup by secret, no comparison loop to time.
        self._tokens: dict[str, Token] = {}
        self._sweep_at = _FIRST_SWEEP

    def __len__(self) -> int:
        return len(self._tokens)

    def lookup(self, value: str) -> Token | None:
        """The live record of an issued token (expired ones may linger until presented)."""
        return self._tokens.get(value)

    def owner(self, value: str) -> str | None:
        token = self._tokens.get(value)
        return token.user if token else None

    def issue(
        self,
        user: str,
        seconds: float,
        *,
        kind: TokenKind = "oma",
        for_oma: bool = True,
        value: str | None = None,
    ) -> Token:
        token = Token(
            value=value or secrets.token_hex(16),
            user=user,
            kind=kind,
            for_oma=for_oma or kind == "oma",
            expires_at=self._clock() + seconds,
        )
        self._tokens[token.value] = token
        if len(self._tokens) >= self._sweep_at:
            self._sweep()
        return token

    def _sweep(self) -> None:
        now = self._clock()
        self._tokens = {k: t for k, t in self._tokens.items() if t.expires_at > now}
        self._sweep_at = max(_FIRST_SWEEP, 2 * len(self._tokens))

    def login(self, user: str, value: str) -> bool:
        """Whether `value` authenticates `user` for an OMA call right now (spends sso tokens)."""
        token = self._tokens.get(value)
        if token is None or not token.for_oma:
            return False
        if not hmac.compare_digest(token.user.encode(), user.encode()):
            return False
        if self._clock() >= token.expires_at:
            del self._tokens[value]
            return False
        if token.kind == "sso":
            del self._tokens[value]
        return True

    def revoke_all(self) -> None:
        self._tokens.clear()
