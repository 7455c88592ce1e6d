"""The OMA method catalogue (gateway/data/methods.json) as the gateway reads it.

Loaded once per process: the audit trail asks it whether a method changes state, and metrics use
its names as the bounded set of method labels. The sandbox keeps its own richer reader
(`gateway.sandbox.catalogue`); this one holds only what the request path's observers need.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

__all__ = ["MethodInfo", "catalogue", "is_mutating"]


@dataclass(frozen=True, slots=True)
class MethodInfo:
    name: str
    mutating: bool
    bulk: bool  # the answer carries per-object results in `ids[]`
    required: tuple[str, ...] = ()  # top-level request fields OMA requires


@functools.cache
def catalogue() -> Mapping[str, MethodInfo]:
    text = resources.files("gateway").joinpath("data/methods.json").read_text("utf-8")
    return {
        m["name"]: MethodInfo(
            m["name"], bool(m["mutating"]), bool(m.get("bulk", False)), tuple(m["required"])
        )
        for m in json.loads(text)["methods"]
    }


def is_mutating(method: str | None) -> bool | None:
    """None for a method the catalogue does not know (the audit record says "unknown")."""
    info = catalogue().get(method) if method is not None else None
    return None if info is None else info.mutating
