"""Which methods a caller may call.

Method names are checked before anything else touches a request: they become URL path segments
upstream and (bounded) metric labels, so only OMA's own shape is accepted. Some methods are never
forwarded whatever the config says: `authenticate` would mint sessions on the gateway's account
(and its top-level `token` picks the token value), and OMA's underscore methods are internal.
High-risk methods (upstream-facts §9.6: account-wide, irreversible or credential-bearing) are
granted only by their exact name in `allow`, never by a pattern.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

from ..errors import BadRequest, MethodNotAllowed, NoSuchEndpoint

__all__ = [
    "HIGH_RISK",
    "Allowlist",
    "check_method_name",
    "is_never_forwarded",
    "method_from_path",
]

_METHOD_NAME = re.compile(r"_?[a-z][a-z0-9_]{0,63}")
_NEVER_FORWARDED = frozenset({"authenticate"})
#: Granted only when `allow` names them exactly (contract, "High-risk methods").
HIGH_RISK = frozenset(
    {"delete_company", "delete_domain", "push_domain", "set_role", "add_role", "remove_role"}
    | {"change_company", "user_disable_2fa", "app_password", "reset_email_test"}
)


def check_method_name(name: str) -> str:
    if _METHOD_NAME.fullmatch(name) is None:
        raise BadRequest("malformed method name")
    return name


def method_from_path(path: str) -> str:
    """The method of `POST /api/{method}` and of the forms OMA client libraries build from their
    documented base URLs: repeated slashes (`/api//get_user`), `/api/api/{method}` (the toolkit's
    README) and `/{method}` (a base URL that drops `/api`). No other path names a method."""
    segments = [s for s in path.split("/") if s]
    if not segments or segments[:-1] not in ([], ["api"], ["api", "api"]) or segments[-1] == "api":
        raise NoSuchEndpoint()
    return check_method_name(segments[-1])


def is_never_forwarded(method: str) -> bool:
    return method in _NEVER_FORWARDED or method.startswith("_")


@dataclass(frozen=True)
class Allowlist:
    """Exact names and shell-style patterns; deny wins over allow; anything unnamed is denied."""

    allow: tuple[str, ...]
    deny: tuple[str, ...] = ()
    _allow: re.Pattern[str] = field(init=False, repr=False)
    _deny: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_allow", _union(self.allow))
        object.__setattr__(self, "_deny", _union(self.deny))

    def permits(self, method: str) -> bool:
        if is_never_forwarded(method) or self._deny.fullmatch(method):
            return False
        if method in HIGH_RISK:
            return method in self.allow
        return self._allow.fullmatch(method) is not None

    def authorize(self, method: str) -> None:
        if not self.permits(method):
            raise MethodNotAllowed()


def _union(patterns: tuple[str, ...]) -> re.Pattern[str]:
    if not patterns:
        return re.compile(r"(?!)")  # matches nothing
    # fnmatch.translate anchors each pattern with \Z; fullmatch on the union keeps them whole.
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
