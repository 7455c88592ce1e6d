"""Configs that are legal but dangerous: what `check-config` warns about (printed, not fatal).

Each warning names the field it is about and the safer config. They are advice: an operator may
mean a broad grant, but should have to read that it is one.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..catalog import catalogue
from ..settings import CallerSettings, Settings
from .methods import Allowlist

__all__ = ["policy_warnings"]

_SSO_ONLY = frozenset({"generate_token"})


def policy_warnings(settings: Settings) -> list[str]:
    warnings = [w for c in settings.callers.values() for w in _caller_warnings(c)]
    return warnings + list(_login_warnings(settings))


def _caller_warnings(caller: CallerSettings) -> Iterator[str]:
    path = f"callers.{caller.name}"
    if caller.scope is None:
        for i, pattern in enumerate(caller.allow):
            mutating = _mutating_matches(pattern, caller)
            if mutating:
                yield (
                    f"{path}.allow[{i}]: {pattern!r} grants mutating methods"
                    f" ({', '.join(mutating[:4])}{', ...' if len(mutating) > 4 else ''})"
                    " with no scope: add scope.domains or name the methods exactly"
                )
    if _permits(caller, "generate_token"):
        rules = caller.params.generate_token
        if not rules.types_given:
            yield (
                f"{path}.params.generate_token.types: not set, so the default [sso] applies:"
                " name the token types this caller may mint"
            )
        if "oma" in rules.types or rules.oma:
            yield (
                f"{path}.params.generate_token: OMA-capable tokens let the caller act at OMA"
                " outside the gateway's control and audit"
            )


def _login_warnings(settings: Settings) -> Iterator[str]:
    """A `.adm` login is company-level (upstream-facts §2.1), but so is a `company_token_only`
    one: the name does not tell the role. Only an upstream that also serves callers needing more
    than token minting certainly holds more than SSO callers need; that is what is warned about."""
    for upstream in settings.upstreams.values():
        if not upstream.user.lower().endswith(".adm"):
            continue
        users = [c for c in settings.callers.values() if c.upstream == upstream.name]
        sso = sorted(c.name for c in users if _only_mints_sso(c))
        broader = sorted(c.name for c in users if not _granted(c) <= _SSO_ONLY)
        if sso and broader:
            yield (
                f"upstreams.{upstream.name}.user: a company admin login that serves"
                f" {', '.join(broader)} also serves {', '.join(sso)}, which only mint SSO"
                " tokens: give those an upstream of their own whose login has the"
                " company_token_only role"
            )


def _mutating_matches(pattern: str, caller: CallerSettings) -> list[str]:
    if not any(c in pattern for c in "*?["):
        return []
    allow = Allowlist((pattern,), caller.deny)
    return sorted(m.name for m in catalogue().values() if m.mutating and allow.permits(m.name))


def _permits(caller: CallerSettings, method: str) -> bool:
    return Allowlist(caller.allow, caller.deny).permits(method)


def _only_mints_sso(caller: CallerSettings) -> bool:
    rules = caller.params.generate_token
    return _granted(caller) == _SSO_ONLY and set(rules.types) <= {"sso"} and not rules.oma


def _granted(caller: CallerSettings) -> set[str]:
    allow = Allowlist(caller.allow, caller.deny)
    return {m for m in catalogue() if allow.permits(m)}
