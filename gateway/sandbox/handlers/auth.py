"""`authenticate` and `generate_token` (upstream-facts §4, §5, §6)."""

from __future__ import annotations

from typing import Any

from gateway.sandbox.access import require_token
from gateway.sandbox.errors import (
    ALREADY_EXISTS,
    BAD_ATTRIBUTE,
    MALFORMED,
    OmaError,
)
from gateway.sandbox.handlers.common import Call, Reply, field, name_field
from gateway.sandbox.tokens import Token, TokenKind

SESSION_DEFAULT_SECONDS = 10800
SESSION_MAX_SECONDS = 86400
TOKEN_DEFAULT_HOURS = 24
TOKEN_KINDS: tuple[TokenKind, ...] = ("session", "sso", "oma")


def authenticate(call: Call) -> Reply:
    """Without options this only confirms the credentials: the cheap token health check."""
    reply: Reply = {}
    if field(call.body, "generate_session_token", bool, False):
        seconds = _session_seconds(call.body)
        chosen = field(call.body, "token", str, "")
        token = _issue(call, call.user, seconds, kind="oma", for_oma=True, value=chosen)
        reply["session_token"] = token.value
        reply["session_token_duration"] = seconds
    if field(call.body, "fetch_extra_info", bool, False):
        reply["extra_info"] = _extra_info(call)
    return reply


def generate_token(call: Call) -> Reply:
    directory = call.sandbox.directory
    target = name_field(call.body, "user")
    field(call.body, "reason", str, "")
    kind = field(call.body, "type", str, "session")
    if kind not in TOKEN_KINDS:
        raise OmaError(BAD_ATTRIBUTE, f"type must be one of {', '.join(TOKEN_KINDS)}")
    hours = _hours(call.body)
    account = directory.account(target)
    # `oma` is ignored for type=oma tokens, which are OMA tokens anyway (§5). Either way the
    # token drives OMA as its mailbox, so both need a company admin (access.require_token).
    for_oma = kind == "oma" or field(call.body, "oma", bool, False)
    require_token(directory, call.user, account, kind, for_oma)
    chosen = field(call.body, "token", str, "")
    token = _issue(call, target, hours * 3600, kind=kind, for_oma=for_oma, value=chosen)
    return {"token": token.value, "duration": hours}


def _session_seconds(body: dict[str, Any]) -> int:
    # The documented range is 1..86400; out-of-range values are clamped, not refused (a guess).
    seconds = field(body, "session_token_duration", int, SESSION_DEFAULT_SECONDS)
    return min(max(seconds, 1), SESSION_MAX_SECONDS)


def _hours(body: dict[str, Any]) -> float:
    hours = body.get("duration", TOKEN_DEFAULT_HOURS)
    if isinstance(hours, bool) or not isinstance(hours, int | float):
        raise OmaError(MALFORMED, "duration must be a number of hours")
    # No maximum is documented (§5, §12.6); zero or negative cannot be meant.
    if hours <= 0:
        raise OmaError(BAD_ATTRIBUTE, "duration must be positive")
    return hours


def _issue(
    call: Call, user: str, seconds: float, *, kind: TokenKind, for_oma: bool, value: str
) -> Token:
    owner = call.sandbox.tokens.owner(value) if value else None
    # A chosen token string already bound to someone else is refused, so one caller cannot
    # take over another's token by naming it. Real OMA's behaviour here is unknown.
    if owner is not None and owner != user:
        raise OmaError(ALREADY_EXISTS, "token already in use")
    return call.sandbox.tokens.issue(user, seconds, kind=kind, for_oma=for_oma, value=value)


def _extra_info(call: Call) -> Reply:
    directory = call.sandbox.directory
    account = directory.accounts[call.user]
    role = directory.roles.get(call.user)
    company = directory.company_of(call.user)
    return {
        "user": call.user,
        "name": account.attributes.get("name", ""),
        "role": role.kind if role else "user",
        # For company admins, roles lists companies usable as change_domain attributes.company.
        "roles": [company] if role and role.kind == "company" and company else [],
    }
