"""OMA's admin roles as the sandbox models them (upstream-facts §7), and where it guesses.

A role is a kind and a scope: a company name for the `company*` kinds, a domain name for
`domain` and `mail`, a domain plus a workgroup for `workgroup`. A login without a role is a
plain mailbox.

Two questions decide a call. First the method gate: methods.json gives each method a least role
(`min_role`, mostly "inferred"), and a requester passes when its kind is one `SATISFIES` lists
for that least role. Then the handlers ask about objects (whose mailboxes and domains, which
attributes). The table reads the role descriptions; where they are silent the sandbox takes the
STRICTER reading, so a gateway test that passes here does not rely on OMA being lenient:

- A plain mailbox only authenticates. Whether users may read or change themselves is not
  established (§7, §12.7); if OMA allows it, the sandbox is stricter than OMA.
- A method whose least role is `unknown` (echo, search_companies, the underscore methods...)
  is for `company` admins only.
- `mail` and `workgroup` admins both pass the mailbox-level least roles (`mail`, `workgroup`):
  the vocabulary lists workgroup below mail, but a workgroup admin "creates, deletes and
  manages mailboxes", which change_user (least role `mail`) does. What separates them is
  `MAILBOX_ATTRIBUTES` and who may create or delete (`CREATES_MAILBOXES`).
- generate_token (least role `company_token_only`) is open to `company`, `company_view`,
  `company_mail` (the KB's company_mail2 is "company_mail without token generation"),
  `company_token_only` (type `sso` only) and `domain` (§5: "any mailbox the requester
  administers"). `mail` and `workgroup` admins may not: nothing says they may.
- `company_ro` passes only methods that change nothing; `company_view` and `company_mail` are
  refused the billable ones (`BILLABLE`: creating, deleting or restoring mailboxes and domains,
  migrations), and attribute changes that could be billed (quota, user limits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.sandbox.attributes import DOMAIN_CHECKS, USER_CHECKS
from gateway.sandbox.catalogue import MethodSpec

RoleKind = Literal[
    "company",
    "company_view",
    "company_mail",
    "company_ro",
    "company_token_only",
    "domain",
    "mail",
    "workgroup",
]
ROLE_KINDS: tuple[RoleKind, ...] = (
    "company",
    "company_view",
    "company_mail",
    "company_ro",
    "company_token_only",
    "domain",
    "mail",
    "workgroup",
)
COMPANY_KINDS: frozenset[RoleKind] = frozenset(
    {"company", "company_view", "company_mail", "company_ro", "company_token_only"}
)
# The kinds that see domains (get_domain, search_domains, domain stats), not only mailboxes.
DOMAIN_READERS: frozenset[RoleKind] = frozenset({"company", "company_view", "company_ro", "domain"})
CREATES_MAILBOXES: frozenset[RoleKind] = frozenset({"company", "domain", "workgroup"})


@dataclass(frozen=True, slots=True)
class Role:
    kind: RoleKind
    scope: str  # the company for company* kinds, else the domain
    workgroup: str | None = None  # only for the `workgroup` kind


_MAILBOX_LEVELS = frozenset({"mail", "workgroup", "user"})
SATISFIES: dict[RoleKind | None, frozenset[str]] = {
    "company": frozenset(
        {"company", "company_view", "company_mail", "company_ro", "company_token_only"}
        | {"domain", "unknown"}
        | _MAILBOX_LEVELS
    ),
    "company_view": frozenset(
        {"company_view", "company_mail", "company_ro", "company_token_only", "domain"}
        | _MAILBOX_LEVELS
    ),
    "company_mail": frozenset({"company_mail", "company_token_only"} | _MAILBOX_LEVELS),
    "company_ro": frozenset({"company_ro", "domain"} | _MAILBOX_LEVELS),
    "company_token_only": frozenset({"company_token_only", "user"}),
    "domain": frozenset({"domain", "company_token_only"} | _MAILBOX_LEVELS),
    "mail": _MAILBOX_LEVELS,
    "workgroup": _MAILBOX_LEVELS,
    None: frozenset({"user"}),
}
BILLABLE = frozenset(
    {"delete_user", "restore_user", "delete_domain", "restore_domain", "push_domain"}
    | {"migration_add"}
)
_BILLED_USER_ATTRIBUTES = frozenset({"quota"})
_BILLED_DOMAIN_ATTRIBUTES = frozenset({"quota", "max_users", "company"})
_ALL_USER = frozenset(USER_CHECKS)
# change_user attributes each kind may set; missing kinds may set none.
MAILBOX_ATTRIBUTES: dict[RoleKind, frozenset[str]] = {
    "company": _ALL_USER,
    "domain": _ALL_USER,
    "workgroup": _ALL_USER,
    "company_view": _ALL_USER - _BILLED_USER_ATTRIBUTES,
    "company_mail": _ALL_USER - _BILLED_USER_ATTRIBUTES,
    # "passwords, forwards, aliases, autoresponders" (§7); autoresponders are not modelled.
    "mail": frozenset(
        {"password", "forward_recipients", "delivery_forward", "delivery_local", "aliases"}
    ),
}
# change_domain attributes of an existing domain. A domain admin cannot move its domain to
# another company nor raise the limits its company pays for (a guess: not documented).
DOMAIN_ATTRIBUTES: dict[RoleKind, frozenset[str]] = {
    "company": frozenset(DOMAIN_CHECKS),
    "company_view": frozenset(DOMAIN_CHECKS) - _BILLED_DOMAIN_ATTRIBUTES,
    "domain": frozenset(DOMAIN_CHECKS) - _BILLED_DOMAIN_ATTRIBUTES,
}


def passes_gate(kind: RoleKind | None, spec: MethodSpec) -> bool:
    """Whether a requester of this kind may call the method at all, whatever it names."""
    if spec.min_role not in SATISFIES[kind]:
        return False
    if kind == "company_ro" and spec.mutating:
        return False
    return not (kind in ("company_view", "company_mail") and spec.name in BILLABLE)


def parse_kind(value: str) -> RoleKind:
    for kind in ROLE_KINDS:
        if kind == value:
            return kind
    raise ValueError(f"unknown role {value!r}: expected one of {', '.join(ROLE_KINDS)}")
