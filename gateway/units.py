"""Parsing of the config's human units: durations, rates and sizes."""

from __future__ import annotations

import re

__all__ = ["parse_duration", "parse_rate", "parse_size"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*$")
_RATE_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB)?\s*$")
_SIZE_UNITS = {None: 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


def parse_duration(text: object) -> float:
    """`"20s"` -> 20.0 seconds. Bare numbers are refused: a unit makes the intent readable."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"expected a duration such as 500ms, 20s, 5m or 3h, got {text!r}")
    return float(match[1]) * _DURATION_UNITS[match[2]]


def parse_rate(text: object) -> float:
    """`"50/s"` -> 50.0 per second; `"10/m"` -> 0.1666 per second."""
    match = _RATE.match(text) if isinstance(text, str) else None
    if match is None or float(match[1]) <= 0:
        raise ValueError(f"expected a positive rate such as 50/s, 600/m or 1000/h, got {text!r}")
    return float(match[1]) / _RATE_UNITS[match[2]]


def parse_size(text: object) -> int:
    """`"1MiB"` -> 1048576 bytes; a bare integer counts bytes."""
    if isinstance(text, int) and not isinstance(text, bool) and text > 0:
        return text
    match = _SIZE.match(text) if isinstance(text, str) else None
    if match is None or int(match[1]) <= 0:
        raise ValueError(f"expected a positive size such as 64KiB or 1MiB, got {text!r}")
    return int(match[1]) * _SIZE_UNITS[match[2]]
