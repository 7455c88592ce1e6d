"""`oma-gateway audit search FILE...`: the records a reviewer asks for, streamed.

"Who touched alice@... last month?" without grep: filters on caller, method, target (a value
of any target field, or a shell pattern such as `*@customers.example`), time range and result.
Files are read line by line, rotated and compressed (`.gz`) ones alike, so a year of records is
never held in memory; matching lines are printed as they are in the file (still sealed). Lines
that are not audit records (chain_start, checkpoints, torn lines) are skipped.
"""

from __future__ import annotations

import datetime
import fnmatch
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .lines import open_trail

__all__ = ["Query", "instant", "search"]


@dataclass(frozen=True, slots=True)
class Query:
    caller: str | None = None
    method: str | None = None
    target: str | None = None
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None
    result: str | None = None

    def matches(self, record: dict[str, Any]) -> bool:
        return (
            record.get("event") == "audit"
            and _equal(self.caller, record.get("caller"))
            and _equal(self.method, record.get("method"))
            and _equal(self.result, record.get("result"))
            and self._in_time(record.get("time"))
            and (self.target is None or _names(self.target.lower(), record.get("targets")))
        )

    def _in_time(self, value: Any) -> bool:
        if self.since is None and self.until is None:
            return True
        try:
            when = instant(str(value))
        except ValueError:
            return False
        return (self.since is None or when >= self.since) and (
            self.until is None or when < self.until
        )


def search(paths: Iterable[Path], query: Query) -> Iterator[bytes]:
    """The matching lines (with their newline), file after file, in file order."""
    for path in paths:
        with open_trail(path) as file:
            for line in file:
                record = _record(line)
                if record is not None and query.matches(record):
                    yield line if line.endswith(b"\n") else line + b"\n"


def instant(text: str) -> datetime.datetime:
    """An ISO 8601 date or time; without a zone, UTC."""
    when = datetime.datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=datetime.UTC)


def _record(line: bytes) -> dict[str, Any] | None:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def _equal(wanted: str | None, value: Any) -> bool:
    return wanted is None or value == wanted


def _names(target: str, targets: Any) -> bool:
    """Whether any target value equals `target` or matches it as a pattern (case-insensitive)."""
    if not isinstance(targets, dict):
        return False
    for value in targets.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and fnmatch.fnmatchcase(item.lower(), target):
                return True
    return False
