"""Which objects a call names, per OMA method: the one source of truth for scope and for audit.

For every catalogued method this module knows which body fields name objects and of what kind
(upstream-facts §2-§5, §9 and each method's notes in `data/methods.json`). Scope checks and the
audit record's `targets` both come from `extract`, so policy and audit cannot disagree about what
a call touched.

Kinds, and what scope makes of them:

- `mailbox`: an address; in scope when the part after `@` is.
- `domain`: a domain name; in scope when it matches a scope pattern.
- `company`, `brand`: company-level objects; never inside a domain scope.
- `item`: an object that lives inside another target of the same call (message and contact ids
  of that mailbox, a deleted object's id, a workgroup of that domain, a migration job label);
  recorded, not scoped on its own.

Besides each method's own fields, OMA's common object fields (`user`, `domain`, `company`, ...)
are extracted wherever they appear: whether OMA ignores an extra `domain` on `delete_user` is not
documented, so an unexpected object field is judged like an expected one.

A method is `global` when it touches no object at all (reference data, `echo`): scope has nothing
to refuse. A method absent from `_FIELDS` is unknown: a scoped caller is refused it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["GLOBAL_METHODS", "KNOWN_METHODS", "Target", "extract", "record_view"]

Kind = Literal["mailbox", "domain", "company", "brand", "item", "name"]
Fields = tuple[tuple[str, Kind], ...]


@dataclass(frozen=True, slots=True)
class Target:
    field: str  # where in the body, e.g. "user", "criteria.domain", "users[].local"
    kind: Kind
    value: Any  # as sent: a str when well formed; anything else is refused by scope


# A field spec is (path, kind). Paths: "a" top-level, "a.b" nested object, "a[]" each entry of a
# list, "a[].b" field b of each entry. Roles: set_role's `object` names a company for company
# roles, else a domain or "domain/workgroup" (see `_role_object`).
_USER: Fields = (("user", "mailbox"),)
_DOMAIN: Fields = (("domain", "domain"),)
_COMPANY: Fields = (("company", "company"),)
_IDS: Fields = (("ids[]", "item"),)
_DOMAIN_BULLETIN: Fields = (*_DOMAIN, ("bulletin", "item"))
_COMPANY_BULLETIN: Fields = (*_COMPANY, ("bulletin", "item"))
_USER_ALIASES: Fields = (("attributes.aliases[]", "mailbox"),)
_DOMAIN_ALIASES: Fields = (("attributes.aliases[]", "domain"), ("attributes.company", "company"))

_FIELDS: Mapping[str, Fields] = {
    # auth
    "generate_token": _USER,
    # user
    "get_user": _USER,
    "change_user": (*_USER, *_USER_ALIASES),
    "delete_user": _USER,
    "rename_user": (*_USER, ("new_name", "mailbox")),
    "restore_user": (*_USER, ("new_name", "mailbox"), ("id", "item"), ("ids[]", "item")),
    "get_user_changes": _USER,
    "get_user_attribute_history": _USER,
    "get_user_folders": _USER,
    "get_user_messages": (*_USER, ("folder", "item")),
    "move_user_messages": (*_USER, *_IDS, ("folder", "item")),
    "get_deleted_messages": (*_USER, ("folder", "item")),
    "restore_deleted_messages": (*_USER, *_IDS),
    "get_deleted_contacts": _USER,
    "restore_deleted_contacts": (*_USER, *_IDS),
    "get_sieve": _USER,
    "set_sieve": _USER,
    "logout_user": _USER,
    "reindex": (*_USER, ("folder", "item"), ("id", "item")),
    "app_password": _USER,
    "user_disable_2fa": _USER,
    "user_notify": _USER,
    "set_role": (*_USER, ("object", "domain"), ("objects[]", "domain")),
    "add_role": (*_USER, ("object", "domain")),
    "search_users": (("criteria.domain", "domain"), ("criteria.workgroup", "item")),
    # domain
    "get_domain": _DOMAIN,
    "change_domain": (*_DOMAIN, *_DOMAIN_ALIASES),
    "delete_domain": _DOMAIN,
    "restore_domain": (*_DOMAIN, ("new_name", "domain"), ("id", "item")),
    "push_domain": (*_DOMAIN, ("new_company", "company")),
    "get_domain_changes": _DOMAIN,
    "get_domain_bulletin": _DOMAIN_BULLETIN,
    "change_domain_bulletin": _DOMAIN_BULLETIN,
    "post_domain_bulletin": _DOMAIN_BULLETIN,
    "search_domains": (("criteria.company", "company"),),
    # workgroup
    "create_workgroup": (*_DOMAIN, ("workgroup", "item")),
    "delete_workgroup": (*_DOMAIN, ("workgroup", "item")),
    "search_workgroups": (("criteria.domain", "domain"),),
    # company and brand: company-wide, never inside a domain scope
    "get_company": _COMPANY,
    "change_company": _COMPANY,
    "get_company_changes": _COMPANY,
    "get_company_bulletin": _COMPANY_BULLETIN,
    "change_company_bulletin": _COMPANY_BULLETIN,
    "post_company_bulletin": _COMPANY_BULLETIN,
    "search_admins": (("criteria.company", "company"),),
    "search_brands": (("criteria.company", "company"),),
    "search_brand_members": (("criteria.brand", "brand"), ("criteria.company", "company")),
    "reset_email_test": (("brand", "brand"), *_COMPANY),
    # migration: the local mailboxes are the targets (`local` per the facts, `user` per the
    # contract's wording); a job id alone names nothing a scope can check.
    "migration_add": (("users[].local", "mailbox"), ("users[].user", "mailbox"), ("job", "item")),
    "migration_status": (("job", "item"),),
    "migration_trace": (*_USER, ("job", "item")),
    "migration_jobs": (),
    # stats: `object` by `type` (see `_typed_object`)
    "stats_snapshot": (("object", "domain"),),
    "stats_summary": (("object", "domain"),),
    "stats_list": (),
    # Name-only methods (legacy client lists): fields unknown, so they name nothing we can see.
    "delete_company": (),
    "search_companies": (),
    "change_brand": (),
    "remove_role": (),
    "migration_threads": (),
}

#: OMA's object fields, checked in every call that carries them (`name`: a mailbox when it has
#: an `@`, else a domain).
_COMMON: Fields = (
    ("user", "mailbox"), ("domain", "domain"), ("new_name", "name"), ("object", "name"),
    ("company", "company"), ("brand", "brand"), ("new_company", "company"),
    ("criteria.domain", "domain"), ("criteria.company", "company"), ("criteria.brand", "brand"),
    ("attributes.company", "company"), ("attributes.domain", "domain"),
    ("attributes.brand", "brand"), ("attributes.aliases[]", "name"), ("objects[]", "name"),
    ("users[].local", "mailbox"), ("users[].user", "mailbox"),
)  # fmt: skip

#: Methods that touch no object: scope has nothing to check (and nothing to refuse).
GLOBAL_METHODS = frozenset({"echo", "get_valid_languages", "get_valid_timezones"})
#: Methods whose targets are known (every catalogued one that is ever forwarded).
KNOWN_METHODS = frozenset(_FIELDS) | GLOBAL_METHODS
#: Methods whose targets are company-wide or not visible: a scoped caller is always refused.
_UNSCOPABLE = frozenset(
    {"migration_jobs", "stats_list", "delete_company", "search_companies", "change_brand"}
    | {"remove_role", "migration_threads"}
)


def extract(method: str, body: Mapping[str, Any]) -> tuple[Target, ...]:
    """Every object `body` names for `method`, in field order (none for a global method)."""
    found = []
    for first, rest, path, kind in _compiled(method):
        value = body.get(first)
        if value is None:  # most fields are absent from most calls: the cheap test first
            continue
        for item in _values(value, rest) if rest else (value,):
            found.append(Target(path, _kind(method, body, path, kind, item), item))
    return tuple(found)


@functools.cache
def _compiled(method: str) -> tuple[tuple[str, list[str], str, Kind], ...]:
    """The method's field specs, split once: (first step, remaining steps, path, kind)."""
    if method in GLOBAL_METHODS:
        return ()
    own = _FIELDS.get(method, ())
    known = {path for path, _ in own}
    specs = []
    for path, kind in (*own, *(spec for spec in _COMMON if spec[0] not in known)):
        steps = [part for step in path.split(".") for part in _split_list(step)]
        specs.append((steps[0], steps[1:], path, kind))
    return tuple(specs)


def is_unscopable(method: str) -> bool:
    return method in _UNSCOPABLE or method not in KNOWN_METHODS


def record_view(targets: tuple[Target, ...]) -> dict[str, Any]:
    """The audit record's `targets`: field path -> value, a list for list fields."""
    view: dict[str, Any] = {}
    for target in targets:
        if "[]" in target.field:
            view.setdefault(target.field.replace("[]", ""), []).append(target.value)
        else:
            view[target.field] = target.value
    return view


def _split_list(step: str) -> list[str]:
    return [step[:-2], "[]"] if step.endswith("[]") else [step]


def _values(node: Any, steps: list[str]) -> Iterator[Any]:
    """What `steps` reach from `node`: a name looks into an object, "[]" into each list entry
    (a single value where a list belongs is still a target: scope judges it)."""
    if not steps:
        if node is not None:
            yield node
        return
    step, rest = steps[0], steps[1:]
    if step == "[]":
        for entry in node if isinstance(node, list) else (node,):
            yield from _values(entry, rest)
    elif isinstance(node, Mapping):
        yield from _values(node.get(step), rest)


def _kind(method: str, body: Mapping[str, Any], path: str, kind: Kind, value: Any) -> Kind:
    if kind == "name":
        return "mailbox" if isinstance(value, str) and "@" in value else "domain"
    if method in ("set_role", "add_role") and path.startswith("object"):
        return _role_object(body.get("role"), value)
    if method in ("stats_snapshot", "stats_summary") and path == "object":
        return _typed_object(body.get("type"))
    return kind


def _role_object(role: Any, value: Any) -> Kind:
    """A company role's object is the company; other roles name a domain (or domain/workgroup,
    whose domain part is what scope checks)."""
    if isinstance(role, str) and role.startswith("company"):
        return "company"
    return "domain"


def _typed_object(kind: Any) -> Kind:
    # Only an explicit `type: domain` or `type: user` narrows the object; anything else (company,
    # missing, unexpected) is read as company-wide, the safer reading.
    if kind == "domain":
        return "domain"
    if kind == "user":
        return "mailbox"
    return "company"
