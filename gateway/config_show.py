"""The effective config as a document: every setting the gateway runs with, defaults filled in,
every secret masked. What `oma-gateway config show FILE` prints.

Walked from the `Settings` dataclasses themselves, so a setting added there appears here with no
second list to keep. Durations are seconds and sizes bytes (the settings' own units); names that
are mapping keys in the config (`upstreams.NAME`, `callers.NAME`) are not repeated inside.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import yaml

from .secrets import Secret
from .settings import HostPort, Settings

__all__ = ["MASK", "effective_document", "render"]

MASK = "**********"
# Keys of their mapping (name), reported on their own (warnings), or not a setting (types_given).
_HIDDEN = frozenset({"name", "warnings", "types_given"})
_URL_PASSWORD = re.compile(r"(://[^:@/]*):[^@/]*@")  # redis://user:PASSWORD@host: never shown


def effective_document(settings: Settings) -> dict[str, Any]:
    document = _plain(settings)
    assert isinstance(document, dict)
    return document


def render(settings: Settings) -> str:
    header = "# effective config: defaults filled, secrets masked; durations in s, sizes in bytes\n"
    return header + yaml.safe_dump(effective_document(settings), sort_keys=False)


def _plain(value: object) -> Any:
    if isinstance(value, Secret):
        return MASK
    if dataclasses.is_dataclass(value) and not isinstance(value, type | HostPort):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name not in _HIDDEN
        }
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return _scalar(value)


def _scalar(value: object) -> Any:
    if isinstance(value, HostPort | ipaddress.IPv4Network | ipaddress.IPv6Network):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return _URL_PASSWORD.sub(rf"\1:{MASK}@", value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)
