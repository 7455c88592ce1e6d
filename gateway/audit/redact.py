"""Redaction: no secret reaches a log line, an audit record or an error message.

Two nets, because either alone leaks. By field name: any key that names a secret (`password`,
`token`, `credentials`, ... compared case-insensitively, also as a suffix such as `old_password`)
has its whole value replaced, at any depth. By value: every secret the process currently holds
(each upstream's session tokens and password, and the key the current caller presented) is cut out
of every string, wherever it hides (a URL, an exception text, a key name).

`REDACTOR.processor` is a structlog processor placed before the renderer for ALL events
(`gateway.logs`). Value sources register themselves (`REDACTOR.add_source`); the caller's key is
found through `gateway.call.current_call`, set for the duration of each request.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

import orjson

from ..call import current_call

__all__ = ["ALREADY_REDACTED", "REDACTED", "REDACTOR", "Redactor", "is_secret_name"]

REDACTED = "[REDACTED]"
#: Event key by which the audit trail tells the log processor its record is already redacted.
ALREADY_REDACTED = "_already_redacted"
SecretSource = Callable[[], Iterable[str]]

_SECRET_NAMES = frozenset({
    "password", "passwd", "pass", "token", "session_token", "credentials", "secret",
    "authorization", "api_key", "apikey", "x_api_key", "presented_key", "encryption_key",
    "cookie", "set_cookie", "private_key", "app_password",
})  # fmt: skip
_SECRET_SUFFIXES = ("_password", "_token", "_secret", "_key")
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1
#: Shorter "secrets" are not credentials; cutting them out would mangle every line instead.
MIN_SECRET_LENGTH = 4


@functools.lru_cache(maxsize=4096)  # names repeat on every line; bounded against made-up ones
def is_secret_name(name: str) -> bool:
    normal = name.lower().replace("-", "_")
    return normal in _SECRET_NAMES or normal.endswith(_SECRET_SUFFIXES)


class Redactor:
    def __init__(self) -> None:
        self._sources: dict[int, SecretSource] = {}
        self._lock = threading.Lock()  # sources change at app start/stop; log calls read anywhere

    def add_source(self, source: SecretSource) -> Callable[[], None]:
        """Register where secret values come from; returns the function that unregisters it."""
        with self._lock:
            self._sources[id(source)] = source
        return lambda: self._remove(id(source))

    def _remove(self, ident: int) -> None:
        with self._lock:
            self._sources.pop(ident, None)

    def secrets(self, extra: Iterable[str] = ()) -> list[str]:
        with self._lock:
            sources = list(self._sources.values())
        values = {v for source in sources for v in source()}
        call = current_call.get()
        if call is not None and call.presented_key is not None:
            values.add(call.presented_key.reveal())
        values.update(extra)
        return _with_escaped_forms(frozenset(v for v in values if len(v) >= MIN_SECRET_LENGTH))

    def redact(self, value: Any, extra: Iterable[str] = ()) -> Any:
        return _Walk(self.secrets(extra)).value(value)

    def redact_fields(
        self, record: dict[str, Any], fields: Iterable[str], extra: Iterable[str] = ()
    ) -> dict[str, Any]:
        """Redact only `fields` of `record`, in place: the rest is the gateway's own words
        (config names, codes, numbers), which cannot hold a secret. Half the walk of a record."""
        walk = _Walk(self.secrets(extra))
        for name in fields:
            if name in record:
                record[name] = walk.value(record[name])
        return record

    def processor(
        self, logger: object, method: str, event: MutableMapping[str, Any]
    ) -> Mapping[str, Any]:
        """structlog processor: the whole event dict, keys and values, at any depth.

        An event that `redact` already cleaned (the audit record, marked by the audit trail
        itself) is not walked twice: it is the largest line of every call."""
        if event.pop(ALREADY_REDACTED, False) is True:
            return event
        return _Walk(self.secrets()).mapping(event)


@functools.lru_cache(maxsize=64)  # the same few secrets on every line until a token rotates
def _with_escaped_forms(values: frozenset[str]) -> list[str]:
    """Each secret, plus its JSON-escaped spelling when that differs (a secret inside a JSON
    text that was logged as a string). Longest first, so a secret containing another goes whole."""
    out = set()
    for value in values:
        out.add(value)
        out.add(orjson.dumps(value).decode()[1:-1])
    return sorted(out, key=len, reverse=True)


class _Walk:
    __slots__ = ("secrets",)

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, int) and not _INT64_MIN <= value <= _UINT64_MAX:
            return str(value)  # JSON allows it, orjson does not: a caller's huge id stays readable
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Mapping):
            return self.mapping(value)
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(v) for v in value]
        if isinstance(value, bytes | bytearray):
            return self.text(bytes(value).decode("utf-8", "replace"))
        return self.text(str(value))  # anything else is rendered as text: redact that text

    def mapping(self, value: Mapping[Any, Any]) -> dict[str, Any]:
        # The hot loop of every log line: plain strings and small scalars are handled inline.
        out: dict[str, Any] = {}
        text = self.text
        for key, item in value.items():
            key = key if type(key) is str else str(key)
            name = text(key)
            if is_secret_name(key):
                out[name] = REDACTED
            elif type(item) is str:
                out[name] = text(item)
            elif item is None or type(item) is bool or type(item) is float:
                out[name] = item
            else:
                out[name] = self.value(item)
        return out

    def text(self, text: str) -> str:
        for secret in self.secrets:  # a handful: each upstream's password and tokens, the key
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


#: The process-wide redactor that the log processor and the audit trail share.
REDACTOR = Redactor()
