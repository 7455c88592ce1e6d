"""One caller's compiled policy: everything the request path asks about that caller, in one object.

Built once per config (a reload builds new ones). The order of the checks is the order of the
questions a reviewer asks: may it call this method at all; does the call touch the gateway's own
login; does it stay inside the caller's scope; are its parameters allowed. The first "no" wins, so
the audit record names exactly one rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import ParameterNotAllowed, TargetNotAllowed
from ..forward import Forwarder
from ..limits import CallerLimits
from ..settings import CallerSettings
from .methods import Allowlist
from .params import ParamRules
from .scope import DomainScope, ProtectedLogins, Unscoped
from .targets import Target, extract

__all__ = ["CallerPolicy"]

#: Fixed texts per rule: precise, and nothing a caller sent.
_TARGET_MESSAGES = {
    "protected_login": "the gateway's own OMA login cannot be named in a call",
    "admin_login": "admin logins are outside this caller's scope",
    "outside_scope": "an object of this call is outside the caller's scope",
    "company_wide": "company-wide objects are outside the caller's scope",
    "no_target": "this call names no object inside the caller's scope",
    "unscopable_method": "this method's objects cannot be checked against the caller's scope",
    "too_deep": "request body nests too deep to be checked",
}
_PARAMETER_MESSAGES = {
    "chosen_token": "generate_token: a caller-chosen token is never allowed",
    "token_type": "generate_token: this token type is not allowed for this caller",
    "oma_token": "generate_token: oma tokens are not allowed for this caller",
    "duration": "generate_token: duration must be a number of hours within the caller's cap",
    "attributes": "attributes must be an object",
    "attribute_not_allowed": "an attribute of this call is not allowed for this caller",
}


@dataclass(frozen=True, slots=True)
class CallerPolicy:
    name: str
    allowlist: Allowlist
    scope: DomainScope | Unscoped
    protected: ProtectedLogins
    params: ParamRules
    limits: CallerLimits
    forwarder: Forwarder

    @classmethod
    def build(
        cls,
        caller: CallerSettings,
        limits: CallerLimits,
        forwarder: Forwarder,
        logins: Iterable[str],
    ) -> CallerPolicy:
        return cls(
            name=caller.name,
            allowlist=Allowlist(caller.allow, caller.deny),
            scope=Unscoped() if caller.scope is None else DomainScope(caller.scope),
            protected=ProtectedLogins(logins),
            params=ParamRules(caller.params),
            limits=limits,
            forwarder=forwarder,
        )

    @staticmethod
    def targets(method: str, body: dict[str, Any]) -> tuple[Target, ...]:
        return extract(method, body)

    def authorize(
        self, method: str, body: dict[str, Any], targets: tuple[Target, ...]
    ) -> dict[str, Any]:
        """The body to forward, or the refusal (`MethodNotAllowed`, `TargetNotAllowed`,
        `ParameterNotAllowed`) carrying the rule, field and value in its `detail`."""
        self.allowlist.authorize(method)
        refusal = self.protected.check(body) or self.scope.check(method, targets)
        if refusal is not None:
            raise TargetNotAllowed(_TARGET_MESSAGES[refusal.rule], detail=refusal.record())
        refusal = self.params.check(method, body)
        if refusal is not None:
            raise ParameterNotAllowed(_PARAMETER_MESSAGES[refusal.rule], detail=refusal.record())
        return self.params.forwarded(method, body)
