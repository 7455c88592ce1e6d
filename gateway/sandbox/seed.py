"""The demo data every sandbox starts with (and returns to on reset).

Company "Demo Co" owns `demo.example` (with the domain alias `demo-alias.example`) and
`demo.test`. The company admin's login lives in the `.adm` pseudo-domain, as real company admin
logins seem to (upstream-facts §2.1). Every seeded mailbox, including the domain admin, has the
password `MAILBOX_PASSWORD`; only the company admin's password is configurable.
"""

from __future__ import annotations

from typing import Any

from gateway.sandbox.attributes import DOMAIN_DEFAULTS, USER_DEFAULTS
from gateway.sandbox.directory import Account, Directory, Domain, Role, domain_of

COMPANY = "Demo Co"
DOMAIN = "demo.example"
SECOND_DOMAIN = "demo.test"
DOMAIN_ALIAS = "demo-alias.example"
DOMAIN_ADMIN = "domainadmin@demo.example"
ALIAS = "info@demo.example"
ALIAS_TARGET = "alice@demo.example"
MAILBOX_PASSWORD = "demo-password"  # noqa: S105 - a published demo credential
DELETED_MESSAGES = ("d1", "d2", "d3")
MESSAGES = ("m1", "m2", "m3", "m4", "m5")

_MAILBOXES = {
    "alice@demo.example": "Alice Example",
    "bob@demo.example": "Bob Example",
    "carol@demo.example": "Carol Example",
    "dave@demo.example": "Dave Example",
    "eve@demo.example": "Eve Example",
    DOMAIN_ADMIN: "Domain Admin",
    "erin@demo.test": "Erin Test",
}


def _attributes(**overrides: Any) -> dict[str, Any]:
    # Fresh lists per account: defaults must not share mutable values.
    return {**USER_DEFAULTS, "aliases": [], "forward_recipients": [], **overrides}


def seed_directory(admin_user: str, admin_password: str) -> Directory:
    directory = Directory()
    directory.add_domain(Domain(DOMAIN, COMPANY, {**DOMAIN_DEFAULTS, "aliases": [DOMAIN_ALIAS]}))
    directory.add_domain(Domain(SECOND_DOMAIN, COMPANY, {**DOMAIN_DEFAULTS, "aliases": []}))
    admin = admin_user.lower()
    directory.add_account(
        Account(admin, domain_of(admin), admin_password, _attributes(name="Company Admin"))
    )
    for name, full_name in _MAILBOXES.items():
        if name == admin:
            continue  # a configured admin login wins over the demo mailbox of that name
        aliases = [ALIAS] if name == ALIAS_TARGET else []
        account = Account(
            name,
            domain_of(name),
            MAILBOX_PASSWORD,
            _attributes(name=full_name, aliases=aliases),
        )
        directory.add_account(account)
    alice = directory.accounts[ALIAS_TARGET]
    alice.messages.update(MESSAGES)
    alice.deleted_messages.update(DELETED_MESSAGES)
    alice.deleted_contacts.update(("c1", "c2"))
    directory.roles[admin] = Role("company", COMPANY)
    directory.roles[DOMAIN_ADMIN] = Role("domain", DOMAIN)
    return directory
