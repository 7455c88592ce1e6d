"""Reading a caller's `scope` and `params` from the config, every problem with its field path.

Kept beside the rules they configure so a new rule and its config arrive together; `validation`
calls these from its caller section.
"""

from __future__ import annotations

import re
from typing import Any, cast

from ..config_reader import Reader
from ..settings import CallerParams, ChangeRules, TokenRules
from ..units import parse_duration

__all__ = ["read_params", "read_scope"]

_DOMAIN_PATTERN = re.compile(r"[A-Za-z0-9*?_-]+(?:\.[A-Za-z0-9*?_-]+)*\.?")
_TOKEN_TYPES = ("session", "sso", "oma")
_UPSERT = ("any", "create_only")
_CHANGE_METHODS = ("change_user", "change_domain")
_CHANGE = ChangeRules()  # the defaults, written once in settings


def read_scope(r: Reader, value: object, path: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    fields = r.mapping(value, path, {"domains"})
    domains = r.strings(fields.get("domains"), f"{path}.domains")
    if not domains:
        r.fail(f"{path}.domains", "expected at least one domain pattern (omit scope for none)")
    for i, pattern in enumerate(domains):
        if not _DOMAIN_PATTERN.fullmatch(pattern):
            r.fail(f"{path}.domains[{i}]", "expected a domain name or a shell pattern of one")
    return domains


def read_params(r: Reader, value: object, path: str) -> CallerParams:
    fields = r.mapping(value, path, {"generate_token", *_CHANGE_METHODS})
    changes = {m: _change(r, fields.get(m), f"{path}.{m}") for m in _CHANGE_METHODS}
    return CallerParams(
        generate_token=_token(r, fields.get("generate_token"), f"{path}.generate_token"),
        change_user=changes["change_user"],
        change_domain=changes["change_domain"],
    )


def _token(r: Reader, value: object, path: str) -> TokenRules:
    fields = r.mapping(value, path, {"types", "oma", "max_duration"})
    default = TokenRules()
    types = r.strings(fields.get("types"), f"{path}.types") if "types" in fields else default.types
    for i, kind in enumerate(types):
        if kind not in _TOKEN_TYPES:
            r.fail(f"{path}.types[{i}]", f"expected one of {', '.join(_TOKEN_TYPES)}")
    oma = fields.get("oma", default.oma)
    if not isinstance(oma, bool):
        r.fail(f"{path}.oma", "expected true or false")
        oma = False
    cap = r.convert(
        fields.get("max_duration"), f"{path}.max_duration", parse_duration, default.max_duration
    )
    if cap < 3600:
        r.fail(f"{path}.max_duration", "OMA counts duration in whole hours: at least 1h")
    return TokenRules(types=types, oma=oma, max_duration=cap, types_given="types" in fields)


def _change(r: Reader, value: object, path: str) -> ChangeRules:
    fields = r.mapping(value, path, {"attributes", "upsert"})
    attributes = (
        r.strings(fields.get("attributes"), f"{path}.attributes")
        if "attributes" in fields
        else None
    )
    upsert = cast(Any, r.choice(fields.get("upsert"), f"{path}.upsert", _UPSERT, _CHANGE.upsert))
    return ChangeRules(attributes=attributes, upsert=upsert)
