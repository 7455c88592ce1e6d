"""The demo data every sandbox starts with (and returns to on reset).

Company "Demo Co" owns `demo.example` (with the domain alias `demo-alias.example`) and
`demo.test`; company "Other Co" owns `other.example`, for refusals across companies. Company-wide
admin logins live in the `.adm` pseudo-domain, as real company admin logins seem to
(upstream-facts §2.1); domain, mail and workgroup admins are mailboxes of the domain they
administer (§7: set_role targets must belong to the object).

| login | role |
|---|---|
| the configured login (`admin@demo.adm`) | `company` of Demo Co, or the role asked for |
| `viewer@demo.adm` | `company_view` of Demo Co |
| `mailsettings@demo.adm` | `company_mail` of Demo Co |
| `readonly@demo.adm` | `company_ro` of Demo Co |
| `tokenonly@demo.adm` | `company_token_only` of Demo Co |
| `domainadmin@demo.example` | `domain` of demo.example |
| `mailadmin@demo.example` | `mail` of demo.example |
| `wgadmin@demo.example` | `workgroup` `sales` of demo.example (dave and eve are in `sales`) |
| `admin@other.adm` | `company` of Other Co (`zoe@other.example` is its mailbox) |

Every seeded login except the configured one has the password `MAILBOX_PASSWORD`; only the
configured login's password (and role) is configurable, and it wins over a seeded login of the
same name.
"""

from __future__ import annotations

from typing import Any

from gateway.sandbox.attributes import DOMAIN_DEFAULTS, USER_DEFAULTS
from gateway.sandbox.directory import Account, Directory, Domain, domain_of
from gateway.sandbox.roles import COMPANY_KINDS, Role, RoleKind

COMPANY = "Demo Co"
DOMAIN = "demo.example"
SECOND_DOMAIN = "demo.test"
DOMAIN_ALIAS = "demo-alias.example"
DOMAIN_ADMIN = "domainadmin@demo.example"
MAIL_ADMIN = "mailadmin@demo.example"
WORKGROUP_ADMIN = "wgadmin@demo.example"
WORKGROUP = "sales"
# The workgroup every other mailbox is in, and where a configured workgroup admin works.
DEFAULT_WORKGROUP = USER_DEFAULTS["workgroup"]
OTHER_COMPANY = "Other Co"
OTHER_DOMAIN = "other.example"
OTHER_ADMIN = "admin@other.adm"
OTHER_MAILBOX = "zoe@other.example"
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
    MAIL_ADMIN: "Mail Admin",
    WORKGROUP_ADMIN: "Workgroup Admin",
    "erin@demo.test": "Erin Test",
    OTHER_MAILBOX: "Zoe Other",
}
_IN_WORKGROUP = frozenset({"dave@demo.example", "eve@demo.example", WORKGROUP_ADMIN})
_ADMIN_LOGINS = {
    "viewer@demo.adm": "Company Viewer",
    "mailsettings@demo.adm": "Company Mail Settings",
    "readonly@demo.adm": "Company Read Only",
    "tokenonly@demo.adm": "Company Token Only",
    OTHER_ADMIN: "Other Company Admin",
}
_ROLES = {
    "viewer@demo.adm": Role("company_view", COMPANY),
    "mailsettings@demo.adm": Role("company_mail", COMPANY),
    "readonly@demo.adm": Role("company_ro", COMPANY),
    "tokenonly@demo.adm": Role("company_token_only", COMPANY),
    DOMAIN_ADMIN: Role("domain", DOMAIN),
    MAIL_ADMIN: Role("mail", DOMAIN),
    WORKGROUP_ADMIN: Role("workgroup", DOMAIN, WORKGROUP),
    OTHER_ADMIN: Role("company", OTHER_COMPANY),
}


def admin_role(kind: RoleKind) -> Role:
    """The configured login's role: Demo Co for company kinds, else demo.example."""
    if kind in COMPANY_KINDS:
        return Role(kind, COMPANY)
    return Role(kind, DOMAIN, DEFAULT_WORKGROUP if kind == "workgroup" else None)


def _attributes(**overrides: Any) -> dict[str, Any]:
    # Fresh lists per account: defaults must not share mutable values.
    return {**USER_DEFAULTS, "aliases": [], "forward_recipients": [], **overrides}


def seed_directory(admin_user: str, admin_password: str, role: RoleKind = "company") -> Directory:
    directory = Directory()
    directory.add_domain(Domain(DOMAIN, COMPANY, {**DOMAIN_DEFAULTS, "aliases": [DOMAIN_ALIAS]}))
    directory.add_domain(Domain(SECOND_DOMAIN, COMPANY, {**DOMAIN_DEFAULTS, "aliases": []}))
    directory.add_domain(Domain(OTHER_DOMAIN, OTHER_COMPANY, {**DOMAIN_DEFAULTS, "aliases": []}))
    admin = admin_user.lower()
    directory.add_account(
        Account(admin, domain_of(admin), admin_password, _attributes(name="Company Admin"))
    )
    for name, full_name in {**_MAILBOXES, **_ADMIN_LOGINS}.items():
        if name != admin:  # the configured login wins over a seeded login of that name
            directory.add_account(_seeded(name, full_name))
    alice = directory.accounts[ALIAS_TARGET]
    alice.messages.update(MESSAGES)
    alice.deleted_messages.update(DELETED_MESSAGES)
    alice.deleted_contacts.update(("c1", "c2"))
    directory.roles.update({name: r for name, r in _ROLES.items() if name != admin})
    directory.roles[admin] = admin_role(role)
    return directory


def _seeded(name: str, full_name: str) -> Account:
    aliases = [ALIAS] if name == ALIAS_TARGET else []
    workgroup = WORKGROUP if name in _IN_WORKGROUP else DEFAULT_WORKGROUP
    attributes = _attributes(name=full_name, aliases=aliases, workgroup=workgroup)
    return Account(name, domain_of(name), MAILBOX_PASSWORD, attributes)
