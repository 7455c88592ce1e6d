"""Secrets that cannot be printed by accident.

A `Secret` masks itself in `repr`, `str` and f-strings; the value is reached only through
`reveal()`, so every place that handles the plain text is easy to find with grep.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _random

__all__ = ["Secret", "digest", "new_api_key"]


class Secret:
    """A string whose value never shows up in a repr, a log line or an error message."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(digest(self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


def digest(key: str) -> str:
    """The `sha256:<hex>` form in which the config names an API key."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    """A fresh caller key: 32 random bytes, URL-safe, prefixed so secret scanners can spot it."""
    return "omagw_" + _random.token_urlsafe(32)
