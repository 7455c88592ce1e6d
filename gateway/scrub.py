"""Nothing the gateway holds reaches a caller: scrubbing of every upstream answer.

OMA can hand back what the gateway sent it: `echo` reflects the request, credentials and all, and
`stats_snapshot` / `migration_trace` answer download URLs that carry `user=` and `token=`. Every
answer passes through `scrub` on its way out, against the live secret set of
`gateway.redaction` (what a secret is and where it hides is decided there, for logs too). The
common case costs a few substring searches over the raw bytes; an answer that contains a marker,
a secret, or a JSON escape that could spell one (`\\/`, `\\u`) is parsed, cleaned (keys and
values) and re-encoded.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from .redaction import REDACTED, SECRETS, Cleaner

__all__ = ["REDACTED", "scrub"]

_MARKERS = (b'"credentials"', b'"session_token"', b"token=", b"password=", b"\\/", b"\\u")
_DROPPED_KEYS = frozenset({"credentials", "session_token"})


def scrub(raw: bytes, body: dict[str, Any], secrets: Iterable[str]) -> bytes:
    """`raw` unchanged when clean, else `body` re-encoded without anything secret.

    `secrets` are the ones this answer's call used; every other live secret is searched too."""
    values = SECRETS.values(secrets)
    if not _suspicious(raw, values):
        return raw
    return orjson.dumps(_clean(_drop_keys(body), values))


def _suspicious(raw: bytes, secrets: list[str]) -> bool:
    if any(marker in raw for marker in _MARKERS):
        return True
    # A non-ASCII secret may come back in another encoding of the same text: always cleaned.
    return any(not s.isascii() or s.encode() in raw for s in secrets)


def _drop_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_keys(v) for k, v in value.items() if k not in _DROPPED_KEYS}
    if isinstance(value, list):
        return [_drop_keys(v) for v in value]
    return value


def _clean(body: Any, secrets: list[str]) -> Any:
    return Cleaner(secrets, for_logs=False).value(body)
