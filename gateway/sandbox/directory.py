"""The sandbox's mailboxes, domains, aliases and admin roles, with the permission questions.

Roles follow upstream-facts §7 in two levels only: `company` (everything in one company) and
`domain` (one domain). Plain mailboxes may authenticate and read or modify themselves; whether
real OMA lets them do that is not established (§12.7), so this is a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from gateway.sandbox.errors import (
    ALREADY_EXISTS,
    IS_ALIAS,
    NO_SUCH_OBJECT,
    PERMISSION_DENIED,
    OmaError,
)

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


@dataclass(frozen=True, slots=True)
class Role:
    kind: Literal["company", "domain"]
    scope: str


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
        if role is not None and role.kind == "company":
            return role.scope
        home = self.domains.get(role.scope if role else domain_of(user))
        return home.company if home else None

    def is_company_admin(self, user: str) -> bool:
        role = self.roles.get(user)
        return role is not None and role.kind == "company"

    def administers(self, user: str, domain: str) -> bool:
        role = self.roles.get(user)
        if role is None:
            return False
        if role.kind == "domain":
            return role.scope == domain
        found = self.domains.get(domain)
        return found is not None and found.company == role.scope

    def require_admin(self, user: str, domain: str) -> None:
        if not self.administers(user, domain):
            raise OmaError(PERMISSION_DENIED, f"{user} does not administer {domain}")

    def require_reach(self, user: str, mailbox: str) -> None:
        """Admins of the mailbox's domain, or the mailbox itself, may act on it."""
        if user != mailbox:
            self.require_admin(user, domain_of(mailbox))


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
