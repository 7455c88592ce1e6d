"""Turning a record into one safe JSON line, whatever the caller put in it.

The writer must never stop for a record's content, so every record is bounded before it is
encoded: each target field becomes a flat list of scalars (`ids` nested 600 deep included), all
the caller's and OMA's strings of a record share one budget, and a record whose lists were cut says
`truncated: true`. `encode` is the last net: a record that still cannot be encoded whole (too deep,
a lone surrogate, an integer beyond 64 bits, too long) is written shortened to the gateway's own
fields, marked `truncated: true` with the reason. Every line is line-safe: U+2028, U+2029 and
U+0085, which orjson writes raw and which consumers splitting on Unicode line breaks would cut a
record at, are escaped (`line_safe`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import orjson

__all__ = ["MAX_LINE", "bound_record", "encode", "event_body", "line_safe", "with_event"]

MAX_LINE = 64 * 1024  # bytes of one record at most, as encoded
_MAX_ITEMS = 1000  # scalars kept across a record's targets, and items of its outcome
_MAX_CHARS = 16 * 1024  # characters of foreign strings kept across a record
_MAX_TEXT = 512  # one string at most
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1
_BREAKS = ((b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"), (b"\xc2\x85", b"\\u0085"))
#: The gateway's own fields: what a shortened record keeps.
_OWN_FIELDS = (
    "event", "time", "request_id", "caller", "key_id", "upstream", "remote", "method",
    "mutating", "status", "gateway_error", "result", "resent", "duration_ms", "upstream_ms",
)  # fmt: skip


def line_safe(line: bytes) -> bytes:
    """`line` with the Unicode line breaks JSON leaves raw escaped (same JSON value).

    In UTF-8 these byte sequences encode only those characters, and orjson writes them only
    inside strings, so a byte replacement is exact."""
    if line.isascii() or (b"\xe2\x80" not in line and b"\xc2\x85" not in line):
        return line  # isascii first: a scan of the whole line that costs a tenth of a search
    for raw, escaped in _BREAKS:
        line = line.replace(raw, escaped)
    return line


def encode(record: dict[str, Any]) -> bytes:
    """The record as one line-safe JSON object of at most MAX_LINE bytes, never an exception."""
    try:
        data = orjson.dumps(record)
    except (TypeError, RecursionError):  # orjson.JSONEncodeError is a TypeError
        data = orjson.dumps(shortened(record, "unencodable"))
    if len(data) > MAX_LINE:
        data = orjson.dumps(shortened(record, "too_large"))
    return line_safe(data)


def event_body(record: dict[str, Any], event: str) -> bytes | None:
    """`record` as line-safe JSON, encoded once for both of its lines (`with_event` for the
    file, `stdout.event_line` for stdout); None when `encode` would not write the file's line
    whole (unencodable, too long), so that the caller takes the general paths for both."""
    try:
        data = orjson.dumps(record)
    except (TypeError, RecursionError):
        return None
    # `encode({"event": event, **record})` measures the line before escaping, and so does this.
    if data == b"{}" or "event" in record or len(data) + len(_head(event)) - 1 > MAX_LINE:
        return None
    return line_safe(data)


def with_event(body: bytes, event: str) -> bytes:
    """`encode({"event": event, **record})`, to the byte, from `event_body(record, event)`."""
    return _head(event) + body[1:]


@functools.lru_cache(maxsize=8)  # a handful of event names, all the gateway's own
def _head(event: str) -> bytes:
    return orjson.dumps({"event": event})[:-1] + b","


def shortened(record: dict[str, Any], reason: str) -> dict[str, Any]:
    """The gateway's own scalar fields of `record`, marked: always encodable, always short."""
    out = {k: _scalar(record[k], _Budget()) for k in _OWN_FIELDS if k in record}
    out.update(truncated=True, truncated_reason=reason)
    return out


def bound_record(record: dict[str, Any]) -> dict[str, Any]:
    """In place: flat, bounded `targets` and `outcome.items`; `truncated: true` if cut."""
    cut = False
    targets = record.get("targets")
    if isinstance(targets, dict):
        budget = _Budget()
        record["targets"] = {str(k)[:_MAX_TEXT]: _flat(v, budget) for k, v in targets.items()}
        cut = budget.cut
    outcome = record.get("outcome")
    if isinstance(outcome, dict):
        budget = _Budget(items=3 * _MAX_ITEMS + 1)  # id, success, error_number per item
        record["outcome"] = _bound_outcome(outcome, budget)
        cut = cut or budget.cut
    if cut:
        record["truncated"] = True
    return record


class _Budget:
    __slots__ = ("chars", "cut", "items")

    def __init__(self, items: int = _MAX_ITEMS) -> None:
        self.items, self.chars, self.cut = items, _MAX_CHARS, False

    def take(self, chars: int) -> bool:
        """Whether one more scalar of `chars` characters fits; a refusal marks the record."""
        if self.items <= 0 or chars > self.chars:
            self.cut = True
            return False
        self.items, self.chars = self.items - 1, self.chars - chars
        return True


def _flat(value: Any, budget: _Budget) -> Any:
    """A scalar stays a scalar; any list or mapping becomes one flat list of its scalars."""
    if not isinstance(value, list | tuple | dict):
        return _scalar(value, budget)
    out = []
    for leaf in _leaves(value):
        text = _scalar(leaf, budget)
        if budget.cut:
            break
        out.append(text)
    return out


def _leaves(value: Any) -> Iterator[Any]:
    """The scalars inside nested lists and mappings, in order, without recursion (any depth)."""
    stack = [iter(value.values() if isinstance(value, dict) else value)]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, list | tuple):
            stack.append(iter(item))
        elif isinstance(item, dict):
            stack.append(iter(item.values()))
        else:
            yield item


_END = object()


def _scalar(value: Any, budget: _Budget) -> Any:
    if value is None or isinstance(value, bool | float):
        budget.take(0)
        return value
    if isinstance(value, int) and _INT64_MIN <= value <= _UINT64_MAX:
        budget.take(0)
        return value
    text = _text(value if isinstance(value, str) else _describe(value))
    return text if budget.take(len(text)) else None


def _text(value: str) -> str:
    """At most _MAX_TEXT characters, valid UTF-8 (a lone surrogate becomes U+FFFD)."""
    value = value[:_MAX_TEXT]
    if value.isascii():
        return value
    return value.encode("utf-8", "replace").decode("utf-8")


def _describe(value: Any) -> str:
    if isinstance(value, int):
        return (
            str(value) if value.bit_length() < 1024 else f"<integer of {value.bit_length()} bits>"
        )
    return f"<{type(value).__name__}>"


def _bound_outcome(outcome: dict[str, Any], budget: _Budget) -> dict[str, Any]:
    out = dict(outcome)
    if "oma_audit" in out:
        out["oma_audit"] = _scalar(out["oma_audit"], budget)
    items = out.get("items")
    if isinstance(items, list):
        kept = []
        for item in items:
            if not isinstance(item, dict) or budget.cut:
                break
            kept.append({k: _scalar(v, budget) for k, v in item.items()})
        out["items"] = kept
    return out
