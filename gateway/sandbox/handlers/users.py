"""Mailbox methods: get_user, change_user (an upsert), delete_user, rename_user, search_users."""

from __future__ import annotations

from typing import Any

from gateway.sandbox.access import (
    home_workgroup,
    may_create_mailbox,
    require_mailbox_create,
    require_mailbox_delete,
    require_mailbox_write,
    require_rename,
)
from gateway.sandbox.attributes import (
    OPTIONS,
    USER_CHECKS,
    USER_DEFAULTS,
    check_attributes,
    settable,
)
from gateway.sandbox.directory import Account, Directory, claim_aliases, domain_of
from gateway.sandbox.errors import (
    ALREADY_EXISTS,
    BAD_ATTRIBUTE,
    MALFORMED,
    NO_SUCH_OBJECT,
    PERMISSION_DENIED,
    OmaError,
)
from gateway.sandbox.handlers.common import (
    Call,
    Reply,
    descending,
    field,
    name_field,
    page,
    wildcard,
)


def _creatable(directory: Directory, requester: str, name: str) -> OmaError:
    """Error 2, with the creation form when the requester could create this mailbox (§3)."""
    domain = domain_of(name)
    if domain not in directory.domains or not may_create_mailbox(directory, requester, domain):
        return OmaError(NO_SUCH_OBJECT, name)
    form = {
        "settable_attributes": settable(USER_CHECKS),
        "metadata": {"options": OPTIONS, "defaults": USER_DEFAULTS},
    }
    return OmaError(NO_SUCH_OBJECT, name, extra=form)


def get_user(call: Call) -> Reply:
    directory = call.sandbox.directory
    name = name_field(call.body, "user")
    # Reading through an alias shows the real mailbox, marked as reached by alias (a guess).
    real = directory.aliases.get(name, name)
    account = directory.accounts.get(real)
    if account is None:
        raise _creatable(directory, call.user, name)
    directory.require_reach(call.user, account.name)
    # The password lives outside `attributes`, so it can never be read back.
    return {
        "type": "alias" if real != name else "mailbox",
        "attributes": {**account.attributes, "user": account.name},
        "settable_attributes": settable(USER_CHECKS),
        "metadata": {
            "options": OPTIONS,
            "quota": {"used": 0, "limit": account.attributes["quota"]},
        },
    }


def change_user(call: Call) -> Reply:
    directory = call.sandbox.directory
    name = name_field(call.body, "user")
    attributes = field(call.body, "attributes", dict, {})
    create_only = field(call.body, "create_only", bool, False)
    # An unknown attribute is error 6 whoever asks; a known one the role may not set is error 4.
    check_attributes(attributes, USER_CHECKS)
    account = directory.find_account(name)
    if account is None:
        account = _create(directory, call.user, name, attributes)
    else:
        require_mailbox_write(directory, call.user, account, attributes)
        if create_only:
            raise OmaError(ALREADY_EXISTS, name)
    _apply(directory, account, attributes)
    return {"audit": call.sandbox.audit_id()}


def _create(directory: Directory, requester: str, name: str, attributes: dict[str, Any]) -> Account:
    local, _, domain = name.rpartition("@")
    directory.domain(domain)
    require_mailbox_create(directory, requester, domain, attributes)
    if not 1 <= len(local) <= 64:
        raise OmaError(BAD_ATTRIBUTE, "the local part must be 1-64 characters")
    defaults = {**USER_DEFAULTS, "aliases": [], "forward_recipients": []}
    home = home_workgroup(directory, requester)
    if home is not None:
        defaults["workgroup"] = home
    # An empty password cannot log in; the mailbox gets one through `attributes.password`.
    return Account(name, domain, "", defaults)


def _apply(directory: Directory, account: Account, attributes: dict[str, Any]) -> None:
    changes = dict(attributes)
    if "aliases" in changes:
        changes["aliases"] = claim_aliases(
            changes["aliases"], account.name, directory.accounts, directory.aliases
        )
    password = changes.pop("password", None)
    # Checks are done: from here the change applies whole.
    if account.name in directory.accounts:
        directory.remove_account(account.name, keep_role=True)
    account.attributes.update(changes)
    if password is not None:
        account.password = password
    directory.add_account(account)


def delete_user(call: Call) -> Reply:
    directory = call.sandbox.directory
    account = directory.account(name_field(call.body, "user"))
    require_mailbox_delete(directory, call.user, account)
    directory.remove_account(account.name)
    return {"audit": call.sandbox.audit_id()}


def rename_user(call: Call) -> Reply:
    directory = call.sandbox.directory
    account = directory.account(name_field(call.body, "user"))
    new_name = name_field(call.body, "new_name")
    require_rename(directory, call.user, account)
    if domain_of(new_name) != account.domain:
        raise OmaError(BAD_ATTRIBUTE, "a mailbox is renamed within its domain")
    if new_name in directory.accounts or new_name in directory.aliases:
        raise OmaError(ALREADY_EXISTS, new_name)
    role = directory.roles.get(account.name)
    directory.remove_account(account.name)
    account.name = new_name
    directory.add_account(account)
    if role is not None:
        directory.roles[new_name] = role
    return {"audit": call.sandbox.audit_id()}


def search_users(call: Call) -> Reply:
    directory = call.sandbox.directory
    criteria = field(call.body, "criteria", dict, {})
    domain = criteria.get("domain")
    if not isinstance(domain, str) or not domain:
        raise OmaError(MALFORMED, "criteria.domain is required")
    found = directory.domain(domain.lower())
    if not directory.reaches_domain(call.user, found.name):
        raise OmaError(PERMISSION_DENIED, f"{call.user} does not administer {found.name}")
    # A workgroup admin sees the mailboxes of its workgroup only.
    accounts = sorted(
        (
            a
            for a in directory.accounts.values()
            if a.domain == found.name and directory.reaches(call.user, a)
        ),
        key=lambda a: a.name,
        reverse=descending(call.body),
    )
    pattern = criteria.get("match")
    if isinstance(pattern, str):
        # A pattern with "@" is matched against whole addresses, one without it against local
        # parts. Real OMA's rule is not documented (a guess).
        matches = wildcard(pattern)
        local = "@" not in pattern
        accounts = [a for a in accounts if matches(a.name.partition("@")[0] if local else a.name)]
    rows = [_row(account) for account in accounts]
    return page(call.body, "users", rows)


def _row(account: Account) -> Reply:
    attributes = account.attributes
    return {
        "user": account.name,
        "type": "mailbox",
        "workgroup": attributes["workgroup"],
        "status": attributes["status"],
    }
