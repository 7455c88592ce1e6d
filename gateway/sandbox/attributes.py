"""Settable attributes of mailboxes and domains: names, value checks, defaults and options.

The real attribute tables are longer than the part of the docs that could be read
(upstream-facts §12.9); this is a plausible subset. Values are checked just enough to produce
error 6 for an unknown name or an out-of-range value, as OMA does (§3.1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gateway.sandbox.errors import BAD_ATTRIBUTE, OmaError

Check = Callable[[Any], bool]

# One integrator reports a per-mailbox cap of 20480 MB that surfaces as error 6 (§11).
QUOTA_MAXIMUM_MB = 20480
LANGUAGES = ("en", "fr", "de", "es", "it", "nl", "pt")
STATUSES = ("active", "suspended", "locked")


def _text(limit: int) -> Check:
    return lambda value: isinstance(value, str) and len(value) <= limit


def _names(limit: int) -> Check:
    return lambda value: (
        isinstance(value, list)
        and len(value) <= limit
        and all(isinstance(item, str) and "@" in item for item in value)
    )


def _flag(value: Any) -> bool:
    return isinstance(value, bool)


def _quota(value: Any) -> bool:
    return type(value) is int and 0 <= value <= QUOTA_MAXIMUM_MB


def _password(value: Any) -> bool:
    # Plaintext passwords are 1-54 characters (§8); hashed `{TYPE}...` forms are accepted too.
    return isinstance(value, str) and (1 <= len(value) <= 54 or value.startswith("{"))


def _one_of(options: tuple[str, ...]) -> Check:
    return lambda value: value in options


USER_CHECKS: dict[str, Check] = {
    "password": _password,
    "name": _text(128),
    "title": _text(128),
    "aliases": _names(2000),
    "forward_recipients": _names(1000),
    "delivery_local": _flag,
    "delivery_forward": _flag,
    "quota": _quota,
    "language": _one_of(LANGUAGES),
    "timezone": _text(64),
    "status": _one_of(STATUSES),
    "workgroup": _text(64),
}

USER_DEFAULTS: dict[str, Any] = {
    "name": "",
    "title": "",
    "aliases": [],
    "forward_recipients": [],
    "delivery_local": True,
    "delivery_forward": False,
    "quota": 1024,
    "language": "en",
    "timezone": "UTC",
    "status": "active",
    "workgroup": "staff",
}

DOMAIN_CHECKS: dict[str, Check] = {
    "company": _text(128),
    "aliases": lambda value: isinstance(value, list) and all(isinstance(v, str) for v in value),
    "language": _one_of(LANGUAGES),
    "timezone": _text(64),
    "quota": _quota,
    "max_users": lambda value: type(value) is int and value >= 0,
    "status": _one_of(STATUSES),
}

DOMAIN_DEFAULTS: dict[str, Any] = {
    "aliases": [],
    "language": "en",
    "timezone": "UTC",
    "quota": 1024,
    "max_users": 1000,
    "status": "active",
}

OPTIONS: dict[str, Any] = {"language": list(LANGUAGES), "status": list(STATUSES)}


def check_attributes(attributes: Mapping[str, Any], checks: Mapping[str, Check]) -> None:
    for name, value in attributes.items():
        check = checks.get(name)
        if check is None:
            raise OmaError(BAD_ATTRIBUTE, f"unknown attribute {name!r}")
        if not check(value):
            raise OmaError(BAD_ATTRIBUTE, f"bad value for {name!r}")


def settable(checks: Mapping[str, Check]) -> list[str]:
    return sorted(checks)
