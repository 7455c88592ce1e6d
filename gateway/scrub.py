"""Nothing the gateway holds reaches a caller: scrubbing of every upstream answer.

OMA can hand back what the gateway sent it: `echo` reflects the request, credentials and all, and
`stats_snapshot` / `migration_trace` answer download URLs that carry `user=` and `token=`. Every
answer passes through `scrub` on its way out. The common case costs a few substring searches over
the raw bytes; only an answer that contains a marker or a secret is parsed, cleaned and re-encoded.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

import orjson

__all__ = ["REDACTED", "scrub"]

REDACTED = "[REDACTED]"
_MARKERS = (b'"credentials"', b'"session_token"', b"token=", b"password=")
_DROPPED_KEYS = frozenset({"credentials", "session_token"})
_URL_SECRET = re.compile(r"(?i)([?&;](?:token|password|session_token)=)[^&#;\s]*")


def scrub(raw: bytes, body: dict[str, Any], secrets: Iterable[str]) -> bytes:
    """`raw` unchanged when clean, else `body` re-encoded without anything secret."""
    values = [s for s in secrets if s]
    if not _suspicious(raw, values):
        return raw
    return orjson.dumps(_clean(body, values))


def _suspicious(raw: bytes, secrets: list[str]) -> bool:
    if any(marker in raw for marker in _MARKERS):
        return True
    # A non-ASCII secret may come back \u-escaped: such answers are always cleaned.
    return any(not s.isascii() or _json_form(s) in raw for s in secrets)


@functools.lru_cache(maxsize=64)  # the same token and password on every call until a refresh
def _json_form(secret: str) -> bytes:
    return orjson.dumps(secret)[1:-1]


def _clean(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v, secrets) for k, v in value.items() if k not in _DROPPED_KEYS}
    if isinstance(value, list):
        return [_clean(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return _URL_SECRET.sub(rf"\1{REDACTED}", value)
    return value
