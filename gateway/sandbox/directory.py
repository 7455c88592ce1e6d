"""The sandbox's mailboxes, domains, aliases and admin roles, with the permission questions.

Roles are the eight of upstream-facts §7 (`gateway/sandbox/roles.py` says which methods each
may call and where the sandbox guesses). This module answers "does this requester reach this
object": company-wide kinds reach their company's domains and mailboxes, `domain` and `mail`
admins one domain, `workgroup` admins the mailboxes of one workgroup. A plain mailbox reaches
nothing, itself included, and a `.adm` login lies in no domain, so no one reaches it (the
stricter reading where §7 and §12.7 are unsure).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gateway.sandbox.errors import (
    ALREADY_EXISTS,
    IS_ALIAS,
    NO_SUCH_OBJECT,
    PERMISSION_DENIED,
    OmaError,
)
from gateway.sandbox.roles import COMPANY_KINDS, DOMAIN_READERS, Role

T = TypeVar("T")


@dataclass(slots=True)
class Account:
    name: str
    domain: str
    password: str
    attributes: dict[str, Any]
    messages: set[str] = field(default_factory=set)
    deleted_messages: set[str] = field(default_factory=set)
    deleted_contacts: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Domain:
    name: str
    company: str
    attributes: dict[str, Any]


def domain_of(address: str) -> str:
    return address.rpartition("@")[2]


@dataclass(slots=True)
class Directory:
    accounts: dict[str, Account] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    domains: dict[str, Domain] = field(default_factory=dict)
    domain_aliases: dict[str, str] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)

    def add_account(self, account: Account) -> None:
        self.accounts[account.name] = account
        for alias in account.attributes.get("aliases", ()):
            self.aliases[alias.lower()] = account.name

    def remove_account(self, name: str, *, keep_role: bool = False) -> Account:
        account = self.accounts.pop(name)
        for alias in account.attributes.get("aliases", ()):
            self.aliases.pop(alias.lower(), None)
        if not keep_role:
            self.roles.pop(name, None)
        return account

    def add_domain(self, domain: Domain) -> None:
        self.domains[domain.name] = domain
        for alias in domain.attributes.get("aliases", ()):
            self.domain_aliases[alias.lower()] = domain.name

    def account(self, name: str) -> Account:
        """The mailbox a change may target: error 3 for an alias, error 2 when absent."""
        return _required(name, self.find_account(name))

    def find_account(self, name: str) -> Account | None:
        """The mailbox, or None when absent (an upsert creates it); error 3 for an alias."""
        return _find(name, self.accounts, self.aliases)

    def domain(self, name: str) -> Domain:
        return _required(name, self.find_domain(name))

    def find_domain(self, name: str) -> Domain | None:
        return _find(name, self.domains, self.domain_aliases)

    def company_of(self, user: str) -> str | None:
        role = self.roles.get(user)
        if role is not None and role.kind in COMPANY_KINDS:
            return role.scope
        home = self.domains.get(role.scope if role else domain_of(user))
        return home.company if home else None

    def is_company_admin(self, user: str) -> bool:
        role = self.roles.get(user)
        return role is not None and role.kind == "company"

    def administers(self, user: str, domain: str) -> bool:
        """Whether the requester sees the domain itself (not only its mailboxes)."""
        role = self.roles.get(user)
        return role is not None and role.kind in DOMAIN_READERS and self._covers(role, domain)

    def reaches_domain(self, user: str, domain: str) -> bool:
        """Whether the requester reaches some mailboxes of the domain."""
        role = self.roles.get(user)
        return role is not None and self._covers(role, domain)

    def reaches(self, user: str, account: Account) -> bool:
        role = self.roles.get(user)
        if role is None or not self._covers(role, account.domain):
            return False
        return role.kind != "workgroup" or account.attributes.get("workgroup") == role.workgroup

    def _covers(self, role: Role, domain: str) -> bool:
        if role.kind in COMPANY_KINDS:
            found = self.domains.get(domain)
            return found is not None and found.company == role.scope
        return role.scope == domain

    def require_admin(self, user: str, domain: str) -> None:
        if not self.administers(user, domain):
            raise OmaError(PERMISSION_DENIED, f"{user} does not administer {domain}")

    def require_reach(self, user: str, mailbox: str) -> None:
        """The requester's role reaches the (existing) mailbox; being that mailbox is not enough."""
        account = self.accounts.get(mailbox)
        if account is None or not self.reaches(user, account):
            raise OmaError(PERMISSION_DENIED, f"{user} does not administer {mailbox}")


def _find(name: str, objects: Mapping[str, T], aliases: Mapping[str, str]) -> T | None:
    key = name.lower()
    if key in aliases:
        # OMA refuses changes made through an alias: the object's real name must be used.
        raise OmaError(IS_ALIAS, f"{name} is an alias of {aliases[key]}")
    return objects.get(key)


def _required(name: str, found: T | None) -> T:
    if found is None:
        raise OmaError(NO_SUCH_OBJECT, name)
    return found


def claim_aliases(
    wanted: list[str], owner: str, objects: Mapping[str, object], aliases: Mapping[str, str]
) -> list[str]:
    """`wanted` as aliases of `owner`: none may name an object, or another owner's alias."""
    claimed = [alias.lower() for alias in wanted]
    for alias in claimed:
        if alias in objects or aliases.get(alias, owner) != owner:
            raise OmaError(ALREADY_EXISTS, alias)
    return claimed
