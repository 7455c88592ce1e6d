"""Reading a config document field by field, collecting every problem with its dotted path.

`Reader` is the vocabulary `validation` speaks: a mapping whose unknown keys are problems, a
value converted by a parser, a string, a list of strings, a choice, a secret from the
environment or a file. It never stops at the first problem: an operator fixing a config wants
the whole list, which `ConfigError` carries. Warnings (legal but probably wrong) are collected
beside the problems and never fail a config. With `read_secrets=False` (check-config
--no-secrets, for CI) secret references are checked for shape but nothing is read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .secrets import Secret

__all__ = ["UNREAD", "ConfigError", "Reader"]

T = TypeVar("T")
#: What a secret reference yields when secrets are not read: a placeholder, never served.
UNREAD = Secret("unread")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ConfigError(Exception):
    """The config is invalid; `problems` lists every one as "path: what is wrong"."""

    def __init__(self, problems: list[str], warnings: list[str] | None = None) -> None:
        self.problems = problems
        self.warnings = warnings or []
        super().__init__("invalid config:\n" + "\n".join(f"  {p}" for p in problems))


@dataclass
class Reader:
    """Walks a mapping, collecting problems against dotted field paths."""

    problems: list[str] = field(default_factory=list)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    #: False: secret references are checked for shape, never resolved (placeholders instead).
    read_secrets: bool = True
    warnings: list[str] = field(default_factory=list)
    #: Every mapping's known field names, by the path it was read at (the README's reference
    #: table is checked against this, so the docs cannot drift from the code).
    schema: dict[str, frozenset[str]] = field(default_factory=dict)

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def warn(self, path: str, message: str) -> None:
        """Legal but probably not meant: printed by check-config, logged at start and reload."""
        self.warnings.append(f"{path}: {message}")

    def mapping(self, value: object, path: str, known: set[str] | None) -> dict[str, Any]:
        """`value` as a mapping; keys outside `known` are problems (None: any key is fine)."""
        if known is not None:
            self.schema[path] = frozenset(known)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, "expected a mapping")
            return {}
        for key in value:
            if known is not None and key not in known:
                self.fail(f"{path}.{key}" if path else str(key), "unknown field")
        return value

    def convert(self, value: object, path: str, parse: Callable[[object], T], default: T) -> T:
        if value is None:
            return default
        try:
            return parse(value)
        except ValueError as exc:
            self.fail(path, str(exc))
            return default

    def string(self, value: object, path: str, default: str | None = None) -> str:
        if value is None and default is not None:
            return default
        if not isinstance(value, str) or not value.strip():
            self.fail(path, "expected a non-empty string")
            return ""
        return value

    def strings(self, value: object, path: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(path, "expected a list of non-empty strings")
            return ()
        return tuple(value)

    def choice(self, value: object, path: str, choices: tuple[str, ...], default: str) -> str:
        if value is None:
            return default
        if value not in choices:
            self.fail(path, f"expected one of {', '.join(choices)}")
            return default
        return str(value)

    def env_secret(self, value: object, path: str) -> Secret | None:
        if not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
            self.fail(path, "expected the name of an environment variable")
            return None
        if not self.read_secrets:
            return UNREAD
        secret = self.env.get(value, "")
        if not secret:
            self.fail(path, f"environment variable {value} is not set or empty")
            return None
        return Secret(secret)

    def file_secret(self, value: object, path: str) -> Secret | None:
        if not isinstance(value, str) or not value:
            self.fail(path, "expected a file path")
            return None
        if not self.read_secrets:
            return UNREAD
        try:
            secret = Path(value).read_text().strip()
        except OSError as exc:
            self.fail(path, f"cannot read {value}: {exc.strerror}")
            return None
        if not secret:
            self.fail(path, f"{value} is empty")
            return None
        return Secret(secret)
