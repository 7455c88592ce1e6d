"""Fault switches: make the sandbox slow, broken or silent, for some methods or some calls.

Each switch is a `Fault` or None (off). A fault may be limited to a set of methods and to a
number of occurrences (`times`); it stops applying once that count is spent. The same switches
are set from Python (`sandbox.faults.http_500 = Fault(times=1)`), over HTTP
(`POST /_sandbox/faults`) and from the command line.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, fields
from typing import Any, Literal

FaultName = Literal["latency", "http_500", "non_json", "hang", "reset", "reject_logins"]
# The order in which the answer-replacing faults are tried; the first that fires wins, so a
# fault that did not get its turn keeps its `times` budget.
BREAKING: tuple[FaultName, ...] = ("reset", "hang", "http_500", "non_json")
_SPEC_KEYS = frozenset({"methods", "times", "seconds"})


@dataclass(slots=True)
class Fault:
    methods: Collection[str] | None = None
    times: int | None = None
    seconds: float = 0.0  # only `latency` reads it

    def fire(self, method: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        if self.times is not None:
            if self.times <= 0:
                return False
            self.times -= 1
        return True

    def to_json(self) -> dict[str, Any]:
        methods = None if self.methods is None else sorted(self.methods)
        return {"methods": methods, "times": self.times, "seconds": self.seconds}


@dataclass(slots=True)
class Faults:
    latency: Fault | None = None
    http_500: Fault | None = None
    non_json: Fault | None = None
    hang: Fault | None = None
    reset: Fault | None = None
    # Password logins answer error 1: the gateway's own OMA login is rejected.
    reject_logins: Fault | None = None

    def fires(self, name: FaultName, method: str) -> Fault | None:
        fault: Fault | None = getattr(self, name)
        return fault if fault is not None and fault.fire(method) else None

    def breaking(self, method: str) -> FaultName | None:
        for name in BREAKING:
            if self.fires(name, method):
                return name
        return None

    def clear(self) -> None:
        for name in names():
            setattr(self, name, None)

    def update(self, body: dict[str, Any]) -> None:
        """Apply a JSON switch board; every key is validated before any switch changes."""
        parsed = {name: parse_fault(name, value) for name, value in body.items()}
        for name, fault in parsed.items():
            setattr(self, name, fault)

    def to_json(self) -> dict[str, Any]:
        faults = ((name, getattr(self, name)) for name in names())
        return {name: fault.to_json() if fault else None for name, fault in faults}


def names() -> list[str]:
    return [f.name for f in fields(Faults)]


def parse_fault(name: str, value: Any) -> Fault | None:
    """`null`/`false` turn a switch off, `true` turns it on, a number sets latency seconds,
    an object gives `methods`, `times` and `seconds`."""
    if name not in names():
        raise ValueError(f"unknown fault {name!r}")
    if value is None or value is False:
        return None
    if value is True:
        return Fault()
    if isinstance(value, int | float):
        return Fault(seconds=_seconds(value))
    if not isinstance(value, dict) or not value.keys() <= _SPEC_KEYS:
        raise ValueError(f"{name}: expected true, false, a number or {sorted(_SPEC_KEYS)}")
    return Fault(
        methods=_methods(value.get("methods")),
        times=_times(value.get("times")),
        seconds=_seconds(value.get("seconds", 0.0)),
    )


def _methods(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("methods: expected a list of method names")
    return frozenset(value)


def _times(value: Any) -> int | None:
    if value is not None and (type(value) is not int or value < 0):
        raise ValueError("times: expected a non-negative integer")
    return value


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError("seconds: expected a non-negative number")
    return float(value)
