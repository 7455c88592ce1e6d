"""Who may do what to which object: the method gate and the write checks the handlers ask.

Every refusal is OMA's error 4 (HTTP 200). The method gate runs for every call right after the
credentials (`require_method`); the rest are asked by the handlers that change things. The role
table and its guesses are in `gateway/sandbox/roles.py`. One more guess lives here: a mailbox
that holds an admin role (a domain, mail or workgroup admin) can be changed, renamed, deleted or
given a token only by a `company` admin, never by itself or a peer, so no delegated admin can
take over another admin's login. Whether OMA protects admin logins like this is not documented;
it is the stricter reading. `.adm` logins are never reachable at all (directory.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gateway.sandbox.catalogue import MethodSpec
from gateway.sandbox.directory import Account, Directory, domain_of
from gateway.sandbox.errors import PERMISSION_DENIED, OmaError
from gateway.sandbox.roles import (
    CREATES_MAILBOXES,
    DOMAIN_ATTRIBUTES,
    MAILBOX_ATTRIBUTES,
    RoleKind,
    passes_gate,
)


def kind_of(directory: Directory, user: str) -> RoleKind | None:
    role = directory.roles.get(user)
    return role.kind if role else None


def require_method(directory: Directory, user: str, spec: MethodSpec) -> None:
    kind = kind_of(directory, user)
    if not passes_gate(kind, spec):
        raise OmaError(PERMISSION_DENIED, f"{spec.name} needs more than {kind or 'a mailbox'}")


def require_mailbox_write(
    directory: Directory, user: str, account: Account, attributes: Mapping[str, Any] | None = None
) -> None:
    """Change an existing mailbox (or act on its content): reach, admin logins, attributes."""
    directory.require_reach(user, account.name)
    _require_not_an_admin(directory, user, account)
    _require_mailbox_attributes(directory, user, attributes or {})


def may_create_mailbox(directory: Directory, user: str, domain: str) -> bool:
    """Creating a mailbox is billable: company, domain and workgroup admins only."""
    kind = kind_of(directory, user)
    return kind in CREATES_MAILBOXES and directory.reaches_domain(user, domain)


def require_mailbox_create(
    directory: Directory, user: str, domain: str, attributes: Mapping[str, Any]
) -> None:
    if not may_create_mailbox(directory, user, domain):
        raise OmaError(PERMISSION_DENIED, f"{user} cannot create mailboxes in {domain}")
    _require_mailbox_attributes(directory, user, attributes)


def home_workgroup(directory: Directory, user: str) -> str | None:
    """A workgroup admin's workgroup: where the mailboxes it creates go."""
    role = directory.roles.get(user)
    return role.workgroup if role and role.kind == "workgroup" else None


def _require_mailbox_attributes(
    directory: Directory, user: str, attributes: Mapping[str, Any]
) -> None:
    _require_attributes(attributes, _settable(MAILBOX_ATTRIBUTES, kind_of(directory, user)))
    home = home_workgroup(directory, user)
    # A workgroup admin moving a mailbox out of its workgroup would lose it: refused.
    if home is not None and attributes.get("workgroup", home) != home:
        raise OmaError(PERMISSION_DENIED, f"{user} manages the {home} workgroup only")


def require_mailbox_delete(directory: Directory, user: str, account: Account) -> None:
    if kind_of(directory, user) not in CREATES_MAILBOXES:
        raise OmaError(PERMISSION_DENIED, f"{user} cannot delete mailboxes")
    directory.require_reach(user, account.name)
    _require_not_an_admin(directory, user, account)


def require_rename(directory: Directory, user: str, account: Account) -> None:
    directory.require_admin(user, account.domain)
    directory.require_reach(user, account.name)
    _require_not_an_admin(directory, user, account)


def require_domain_change(
    directory: Directory, user: str, domain: str, attributes: Iterable[str]
) -> None:
    directory.require_admin(user, domain)
    _require_attributes(attributes, _settable(DOMAIN_ATTRIBUTES, kind_of(directory, user)))


def require_token(
    directory: Directory, user: str, account: Account, kind: str, for_oma: bool
) -> None:
    """generate_token: whose mailbox, which type, and `oma` only for company admins (§5)."""
    requester = kind_of(directory, user)
    if for_oma and requester != "company":
        raise OmaError(PERMISSION_DENIED, "only company admins mint OMA tokens")
    if requester == "company_token_only" and kind != "sso":
        raise OmaError(PERMISSION_DENIED, "company_token_only admins mint sso tokens only")
    directory.require_reach(user, account.name)
    _require_not_an_admin(directory, user, account)


def require_named_objects(directory: Directory, user: str, body: Mapping[str, Any]) -> None:
    """For the methods the sandbox does not simulate: every object the body names in the usual
    fields (`domain`, `user`, `users[].user`, `criteria.domain`, `company`) must be reached."""
    criteria = body.get("criteria")
    domains = [body.get("domain"), criteria.get("domain") if isinstance(criteria, dict) else None]
    for domain in (d for d in domains if isinstance(d, str)):
        if not directory.reaches_domain(user, domain.lower()):
            raise OmaError(PERMISSION_DENIED, f"{user} does not administer {domain}")
    for mailbox in _named_mailboxes(body):
        _require_mailbox_reach(directory, user, mailbox.lower())
    company = body.get("company")
    if isinstance(company, str) and company.lower() != (directory.company_of(user) or "").lower():
        raise OmaError(PERMISSION_DENIED, f"{user} is not an admin of {company}")


def _named_mailboxes(body: Mapping[str, Any]) -> list[str]:
    users = body.get("users")
    listed = (
        [u.get("user") for u in users if isinstance(u, dict)] if isinstance(users, list) else []
    )
    return [name for name in (body.get("user"), *listed) if isinstance(name, str)]


def _require_mailbox_reach(directory: Directory, user: str, mailbox: str) -> None:
    account = directory.accounts.get(directory.aliases.get(mailbox, mailbox))
    if account is not None:
        directory.require_reach(user, account.name)
    elif not directory.reaches_domain(user, domain_of(mailbox)):
        raise OmaError(PERMISSION_DENIED, f"{user} does not administer {mailbox}")


def _require_not_an_admin(directory: Directory, user: str, account: Account) -> None:
    if account.name in directory.roles and kind_of(directory, user) != "company":
        raise OmaError(PERMISSION_DENIED, f"{account.name} is an admin login")


def _settable(table: Mapping[RoleKind, frozenset[str]], kind: RoleKind | None) -> frozenset[str]:
    return table.get(kind, frozenset()) if kind else frozenset()


def _require_attributes(attributes: Iterable[str], allowed: frozenset[str]) -> None:
    refused = sorted(set(attributes) - allowed)
    if refused:
        raise OmaError(PERMISSION_DENIED, f"this role cannot set {', '.join(refused)}")
