"""Which objects a caller may touch: its domain scope, and the logins no caller may ever touch.

Names are compared the way OMA's are meant: case-insensitively, one trailing dot ignored. A
target that is not a well-formed name (not a string, whitespace, empty labels, two `@`) is
refused rather than guessed at, since OMA might read it differently from us.

Domain patterns match label by label, so `customers.example` never covers `evilcustomers.example`
or `customers.example.evil.com`. A pattern label of `*` alone, in first place, stands for one or
more labels (`*.customers.example` covers every subdomain); elsewhere `*` and `?` stay inside one
label. `.adm` pseudo-domains, where company admin logins live (upstream-facts §2.1), are matched
only by a pattern that names them exactly: no wildcard hands out an admin login.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .targets import GLOBAL_METHODS, Target, is_unscopable

__all__ = [
    "DomainScope",
    "ProtectedLogins",
    "Refusal",
    "Unscoped",
    "canonical_domain",
    "target_domain",
]

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_ADMIN_SUFFIX = ".adm"
_MAX_DEPTH = 64  # OMA bodies are shallow; a deeper one is scanned no further and refused


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a call was refused: the rule, and the field and value that broke it (for audit)."""

    rule: str
    field: str | None = None
    value: Any = None

    def record(self) -> dict[str, Any]:
        return {"rule": self.rule, "field": self.field, "value": self.value}


@functools.lru_cache(maxsize=4096)  # a caller's few domains, on every call: bounded, not keyed
def canonical_domain(name: str) -> str | None:
    """`name` lower-cased without one trailing dot, or None when it is not a domain name."""
    lowered = name.lower()
    lowered = lowered.removesuffix(".")
    labels = lowered.split(".")
    if len(lowered) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(x) for x in labels):
        return None
    return lowered


def canonical_mailbox(address: str) -> str | None:
    local, at, domain = address.rpartition("@")
    if not at or not local or "@" in local or local != local.strip() or not local.isprintable():
        return None
    canonical = canonical_domain(domain)
    return None if canonical is None else f"{local.lower()}@{canonical}"


def target_domain(target: Target) -> str | None:
    """The domain a mailbox or domain target lies in, or None when it is not well formed."""
    value = target.value
    if not isinstance(value, str):
        return None
    if target.kind == "mailbox":
        mailbox = canonical_mailbox(value)
        return None if mailbox is None else mailbox.rpartition("@")[2]
    if target.field.startswith("object"):  # set_role: "domain" or "domain/workgroup"
        value = value.partition("/")[0]
    return canonical_domain(value)


class DomainScope:
    """`scope.domains` of one caller, compiled."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(p.lower().removesuffix(".") for p in patterns)
        self._exact = frozenset(p for p in self.patterns if not _is_wild(p))
        self._wild = tuple(
            (p.split("."), p.startswith("*.") or p == "*") for p in self.patterns if _is_wild(p)
        )

    def contains(self, domain: str) -> bool:
        if domain in self._exact:
            return True
        if domain.endswith(_ADMIN_SUFFIX):
            return False  # only an exact pattern reaches an admin pseudo-domain
        labels = domain.split(".")
        return any(_labels_match(p, labels, deep) for p, deep in self._wild)

    def check(self, method: str, targets: tuple[Target, ...]) -> Refusal | None:
        if method in GLOBAL_METHODS:
            return None
        if is_unscopable(method):
            return Refusal("unscopable_method")
        scoped = 0
        for target in targets:
            if target.kind == "item":
                continue
            if target.kind in ("company", "brand"):
                return Refusal("company_wide", target.field, target.value)
            domain = target_domain(target)
            if domain is None or not self.contains(domain):
                return Refusal("outside_scope", target.field, target.value)
            scoped += 1
        return None if scoped else Refusal("no_target")


def _is_wild(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _labels_match(pattern: list[str], labels: list[str], deep: bool) -> bool:
    if deep:  # "*.rest": one or more labels, then exactly the rest
        rest = pattern[1:]
        return len(labels) > len(rest) and _each(rest, labels[len(labels) - len(rest) :])
    return len(labels) == len(pattern) and _each(pattern, labels)


def _each(pattern: list[str], labels: list[str]) -> bool:
    return all(fnmatch.fnmatchcase(label, p) for p, label in zip(pattern, labels, strict=True))


class Unscoped:
    """A caller without `scope`: whatever its upstream account reaches, except admin logins
    (`*.adm` pseudo-domains), which only a scope naming them exactly can reach."""

    def check(self, method: str, targets: tuple[Target, ...]) -> Refusal | None:
        for target in targets:
            if target.kind in ("mailbox", "domain"):
                domain = target_domain(target)
                if domain is not None and domain.endswith(_ADMIN_SUFFIX):
                    return Refusal("admin_login", target.field, target.value)
        return None


class ProtectedLogins:
    """The upstreams' own logins: no call may name one, in any field, whatever the config.

    Every string in the body is compared, not only the known target fields: a login named where
    we do not expect an object (a forward, an alias, a field OMA adds later) is refused too.
    """

    def __init__(self, logins: Iterable[str]) -> None:
        self._logins = frozenset(m for m in map(_canonical_login, logins) if m)

    def check(self, body: Mapping[str, Any]) -> Refusal | None:
        return self._scan(body, "", 0)

    def _scan(self, node: Any, path: str, depth: int) -> Refusal | None:
        if isinstance(node, str):
            return Refusal("protected_login", path or None, node) if self._names(node) else None
        if depth > _MAX_DEPTH:
            return Refusal("too_deep", path or None)
        for key, value in _children(node):
            if path == "" and key == "credentials":
                continue  # replaced whole before forwarding
            here = f"{path}.{key}" if path else str(key)
            if self._names(key):
                return Refusal("protected_login", here, key)
            refusal = self._scan(value, here, depth + 1)
            if refusal is not None:
                return refusal
        return None

    def _names(self, text: object) -> bool:
        return isinstance(text, str) and "@" in text and _canonical_login(text) in self._logins


def _children(node: Any) -> Iterable[tuple[Any, Any]]:
    if isinstance(node, dict):
        return node.items()
    return enumerate(node) if isinstance(node, list) else ()


def _canonical_login(text: str) -> str | None:
    return canonical_mailbox(text.strip())
