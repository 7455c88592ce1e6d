"""The one owner of "no secret leaves": the live secret set and the rules for finding secrets.

Both exits use it: `scrub` (every upstream answer on its way to a caller) and `audit.redact`
(every log line and audit record). The rules, in the order a text meets them:

- VALUES: every secret the process holds right now (each upstream's password and session tokens,
  registered by `SECRETS.add_source`, plus the key the current caller presented), cut out of every
  string, in JSON object KEYS as well as values;
- ESCAPED SPELLINGS: a text holding JSON escapes (`\\/`, `\\u0061`) is also searched unescaped,
  since `"tok\\/en"` is the token `tok/en` to whoever parses it;
- URLS: the value of a `token=`, `password=` or `session_token=` query parameter, and the
  password of a URL's user info (`redis://:PASSWORD@host`);
- HEADERS (logs only): what follows `Bearer `, `Authorization:` or `X-API-Key:` in a text (a
  malformed header that a library quotes in its error message names a key that is in no secret
  set: keys are held as digests);
- NAMES (logs only): a field called `password`, `token`, `..._key` ... whole.

Answers (`for_logs=False`) keep their field names and prose: a caller's generated `token` is its
own, and a note saying "Bearer of ..." is data; every secret the gateway holds is in the set.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from .call import current_call

__all__ = ["MIN_SECRET_LENGTH", "REDACTED", "SECRETS", "Cleaner", "SecretSet", "is_secret_name"]

REDACTED = "[REDACTED]"
#: Shorter "secrets" are not credentials; cutting them out would mangle every line instead.
MIN_SECRET_LENGTH = 4
SecretSource = Callable[[], Iterable[str]]

_SECRET_NAMES = frozenset({
    "password", "passwd", "pass", "token", "session_token", "credentials", "secret",
    "authorization", "api_key", "apikey", "x_api_key", "presented_key", "encryption_key",
    "cookie", "set_cookie", "private_key", "app_password",
})  # fmt: skip
_SECRET_SUFFIXES = ("_password", "_token", "_secret", "_key")
_URL_SECRET = re.compile(r"(?i)((?:^|[?&;\s])(?:token|password|session_token)=)[^&#;\s\"']*")
_HEADER_SECRET = re.compile(
    r"(?i)((?:authorization|x-api-key)['\"]?\s*[:=,]\s*['\"]?(?:bearer\s+)?|bearer\s+)[^\s'\",]+"
)
_URL_PASSWORD = re.compile(r"(//[^/\s:@]*:)[^@\s/]+@")
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\/")
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1


def is_secret_name(name: str) -> bool:
    # Only short names are cached: a caller's megabyte-long key must not be kept 4096 times.
    return _is_secret_name(name) if len(name) <= 64 else _matches_secret_name(name)


@functools.lru_cache(maxsize=4096)  # names repeat on every line; bounded against made-up ones
def _is_secret_name(name: str) -> bool:
    return _matches_secret_name(name)


def _matches_secret_name(name: str) -> bool:
    normal = name.lower().replace("-", "_")
    return normal in _SECRET_NAMES or normal.endswith(_SECRET_SUFFIXES)


class SecretSet:
    """Where the secret values live: sources registered by what holds them, read per use.

    Every use asks every source (a token rotates without telling anyone), but the set built
    from their answers is kept while they answer the same, and so is each list built from it."""

    def __init__(self) -> None:
        self._sources: dict[int, SecretSource] = {}
        self._live: tuple[SecretSource, ...] = ()  # the sources as read per use (no lock)
        self._lock = threading.Lock()  # sources change at app start/stop; log calls read anywhere
        self._held: tuple[tuple[str, ...], frozenset[str]] = ((), frozenset())  # answers, set

    def add_source(self, source: SecretSource) -> Callable[[], None]:
        """Register where secret values come from; returns the function that unregisters it."""
        with self._lock:
            self._sources[id(source)] = source
            self._live = tuple(self._sources.values())
        return lambda: self._remove(id(source))

    def _remove(self, ident: int) -> None:
        with self._lock:
            self._sources.pop(ident, None)
            self._live = tuple(self._sources.values())

    def values(self, extra: Iterable[str] = ()) -> list[str]:
        """Every live secret and its JSON-escaped spelling, longest first."""
        held = self._current()
        more = list(extra)
        call = current_call.get()
        if call is not None and call.presented_key is not None:
            more.append(call.presented_key.reveal())
        if not more:
            return _with_escaped_forms(held, _NONE)
        added = frozenset([v for v in more if len(v) >= MIN_SECRET_LENGTH and v not in held])
        return _with_escaped_forms(held, added)

    def _current(self) -> frozenset[str]:
        """The sources' values now (long enough to be secrets): rebuilt when an answer changed."""
        live = self._live
        answers = tuple(live[0]()) if len(live) == 1 else tuple(v for s in live for v in s())
        last, held = self._held
        if answers != last:
            held = frozenset(v for v in answers if len(v) >= MIN_SECRET_LENGTH)
            self._held = (answers, held)  # one assignment: a reader in another thread sees both
        return held


_NONE: frozenset[str] = frozenset()


@functools.lru_cache(maxsize=64)  # the same few secrets on every line until a token rotates
def _with_escaped_forms(held: frozenset[str], added: frozenset[str]) -> list[str]:
    """Each secret, plus its JSON-escaped spelling when that differs (a secret inside a JSON
    text that was logged as a string). Longest first, so a secret containing another goes whole.

    Keyed by the sources' set (the same object while they answer the same, its hash computed
    once) and the few secrets of this use (the caller's key), not by a set rebuilt per use."""
    out = set()
    for value in held | added:
        out.add(value)
        out.add(orjson.dumps(value).decode()[1:-1])
    return sorted(out, key=len, reverse=True)


def unescape(text: str) -> str:
    """`\\/` and `\\uXXXX` spelled out, as a JSON parser would read them."""
    return _ESCAPE.sub(lambda m: chr(int(m[1], 16)) if m[1] else "/", text)


class Cleaner:
    """One pass over a value with a fixed secret list: strings, keys, containers, any depth."""

    __slots__ = ("for_logs", "secrets")

    def __init__(self, secrets: list[str], *, for_logs: bool) -> None:
        self.secrets = secrets
        self.for_logs = for_logs

    def value(self, value: Any) -> Any:
        kind = type(value)  # the exact common types first: an ABC check costs every record
        if kind is str:
            return self.text(value)
        if kind is dict:
            return self.mapping(value)
        if value is None or kind is bool or kind is float:
            return value
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
            if self.for_logs and is_secret_name(key):
                out[name] = REDACTED
            elif type(item) is str:
                out[name] = text(item)
            elif item is None or type(item) is bool or type(item) is float:
                out[name] = item
            else:
                out[name] = self.value(item)
        return out

    def text(self, text: str) -> str:
        if "\\" in text and _ESCAPE.search(text):
            spelled = unescape(text)
            if self._holds_secret(spelled):
                text = spelled  # the escaped spelling hid a secret: show the text redacted
        for secret in self.secrets:  # a handful: each upstream's password and tokens, the key
            if secret in text:
                text = text.replace(secret, REDACTED)
        if "=" in text:
            text = _URL_SECRET.sub(rf"\1{REDACTED}", text)
        if "@" in text and "//" in text:  # every address has an @; user info needs "//" too
            text = _URL_PASSWORD.sub(rf"\1{REDACTED}@", text)
        if self.for_logs and (" " in text or ":" in text):
            text = _HEADER_SECRET.sub(rf"\1{REDACTED}", text)
        return text

    def _holds_secret(self, text: str) -> bool:
        return any(secret in text for secret in self.secrets)


#: The process-wide secret set that answers and log lines are both cleaned against.
SECRETS = SecretSet()
