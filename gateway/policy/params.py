"""Parameter rules: what a caller may ask of a method beyond naming its objects.

`generate_token` mints credentials, so its parameters are policy (contract, "generate_token"): a
caller-chosen `token` never, `type` from the caller's list (a missing one is OMA's `session`),
`oma: true` only when allowed, `duration` (hours, missing means OMA's 24) capped. The PHP toolkit
nests `token`, `duration` and `oma` under `attributes` (upstream-facts §5); OMA's docs say
top level, but the same rules apply there too, in case OMA reads them. `change_user` and
`change_domain` may be held to an attribute allowlist and to create-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..settings import CallerParams, ChangeRules, TokenRules
from .scope import Refusal

__all__ = ["ParamRules"]

_DEFAULT_TYPE = "session"  # OMA's default for generate_token
_DEFAULT_HOURS = 24


class ParamRules:
    def __init__(self, params: CallerParams) -> None:
        self.params = params

    def check(self, method: str, body: Mapping[str, Any]) -> Refusal | None:
        if method == "generate_token":
            return _token_refusal(self.params.generate_token, body)
        if method == "change_user":
            return _change_refusal(self.params.change_user, body)
        if method == "change_domain":
            return _change_refusal(self.params.change_domain, body)
        return None

    def forwarded(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        """The body to forward: the caller's, with any parameter the policy forces."""
        rules = self._change_rules(method)
        if rules is not None and rules.upsert == "create_only":
            return {**body, "create_only": True}
        return body

    def _change_rules(self, method: str) -> ChangeRules | None:
        if method == "change_user":
            return self.params.change_user
        return self.params.change_domain if method == "change_domain" else None


def _token_refusal(rules: TokenRules, body: Mapping[str, Any]) -> Refusal | None:
    nested = body.get("attributes")
    places = [("", body)] + ([("attributes.", nested)] if isinstance(nested, Mapping) else [])
    for prefix, fields in places:
        refusal = _token_fields(rules, fields, prefix)
        if refusal is not None:
            return refusal
    if "type" not in body:
        return _type_refusal(rules, _DEFAULT_TYPE, "type")
    return None


def _token_fields(rules: TokenRules, fields: Mapping[str, Any], prefix: str) -> Refusal | None:
    if "token" in fields:
        return Refusal("chosen_token", f"{prefix}token", fields["token"])
    if "type" in fields:
        refusal = _type_refusal(rules, fields["type"], f"{prefix}type")
        if refusal is not None:
            return refusal
    if fields.get("oma") not in (None, False) and not rules.oma:
        return Refusal("oma_token", f"{prefix}oma", fields["oma"])
    duration = fields.get("duration", _DEFAULT_HOURS)
    if not _is_hours_within(duration, rules.max_duration):
        return Refusal("duration", f"{prefix}duration", duration)
    return None


def _type_refusal(rules: TokenRules, kind: object, field: str) -> Refusal | None:
    return (
        None
        if isinstance(kind, str) and kind in rules.types
        else Refusal("token_type", field, kind)
    )


def _is_hours_within(hours: object, max_seconds: float) -> bool:
    if isinstance(hours, bool) or not isinstance(hours, int | float):
        return False  # OMA might read "876000" as a number: only numbers are judged, and passed
    return 0 < hours * 3600 <= max_seconds


def _change_refusal(rules: ChangeRules, body: Mapping[str, Any]) -> Refusal | None:
    if rules.attributes is None or "attributes" not in body:
        return None
    attributes = body["attributes"]
    if not isinstance(attributes, Mapping):
        return Refusal("attributes", "attributes", None)
    for name in attributes:
        if name not in rules.attributes:
            return Refusal("attribute_not_allowed", f"attributes.{name}", name)
    return None
