"""What every method handler shares: the call context, field readers and list paging."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from gateway.sandbox.errors import MALFORMED, OmaError

if TYPE_CHECKING:
    from gateway.sandbox.sandbox import Sandbox

Reply = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated request, as a handler sees it."""

    sandbox: Sandbox
    method: str
    body: dict[str, Any]
    user: str  # the authenticated requester
    token: str | None  # the token the requester used, None after a password login
    base: str = ""  # the origin the call came in on (`http://127.0.0.1:8081`); "" when unknown


Handler = Callable[[Call], Reply]


def field(body: dict[str, Any], key: str, kind: type[T], default: T) -> T:
    """A top-level field of the expected JSON type, or error 5 (§3.1: wrong type)."""
    value = body.get(key)
    if value is None:
        return default
    # bool is an int in Python but not a number in JSON.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise OmaError(MALFORMED, f"{key} must be of type {kind.__name__}")
    return value


def name_field(body: dict[str, Any], key: str) -> str:
    """A required object name (user, domain...), lower-cased as mail addresses compare."""
    value = field(body, key, str, "")
    if not value:
        raise OmaError(MALFORMED, f"{key} is required")
    return value.lower()


def wildcard(pattern: str) -> Callable[[str], bool]:
    """OMA's match syntax: `*` is any run of characters, `?` one character (§3)."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    compiled = re.compile("".join(parts), re.IGNORECASE)
    return lambda text: compiled.fullmatch(text) is not None


def page(body: dict[str, Any], key: str, items: Sequence[T]) -> Reply:
    """Slice a search result by `range.first` (0-based) and `range.limit` (§3)."""
    bounds = field(body, "range", dict, {})
    first, limit = bounds.get("first", 0), bounds.get("limit")
    for name, value in (("first", first), ("limit", limit)):
        if value is not None and (type(value) is not int or value < 0):
            raise OmaError(MALFORMED, f"range.{name} must be a non-negative integer")
    chosen = items[first:] if limit is None else items[first : first + limit]
    return {key: list(chosen), "count": len(chosen), "total_count": len(items)}


def descending(body: dict[str, Any]) -> bool:
    sort = field(body, "sort", dict, {})
    return sort.get("direction") == "descending"
