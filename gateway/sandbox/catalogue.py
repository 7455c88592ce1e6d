"""The bundled OMA method catalogue (`gateway/data/methods.json`), read once per process."""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass

import orjson


@dataclass(frozen=True, slots=True)
class MethodSpec:
    name: str
    required: tuple[str, ...]
    mutating: bool
    bulk: bool
    min_role: str = "unknown"  # methods.json's least role; see gateway/sandbox/roles.py


@functools.cache
def load_catalogue() -> dict[str, MethodSpec]:
    raw = (importlib.resources.files("gateway") / "data" / "methods.json").read_bytes()
    specs = (
        MethodSpec(
            name=entry["name"],
            required=tuple(entry.get("required", ())),
            mutating=bool(entry.get("mutating", False)),
            bulk=bool(entry.get("bulk", False)),
            min_role=str(entry.get("min_role", "unknown")),
        )
        for entry in orjson.loads(raw)["methods"]
    )
    return {spec.name: spec for spec in specs}
