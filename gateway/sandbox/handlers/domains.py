"""Domain methods: get_domain, change_domain (an upsert), search_domains.

The catalogue names the creation-form key of get_domain `settable_attribute` (singular), as
for get_company, while get_user has `settable_attributes`; the sandbox follows the catalogue.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from gateway.sandbox.access import require_domain_change
from gateway.sandbox.attributes import (
    DOMAIN_CHECKS,
    DOMAIN_DEFAULTS,
    OPTIONS,
    check_attributes,
    settable,
)
from gateway.sandbox.directory import Directory, Domain, claim_aliases
from gateway.sandbox.errors import (
    ALREADY_EXISTS,
    BAD_ATTRIBUTE,
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


def get_domain(call: Call) -> Reply:
    directory = call.sandbox.directory
    name = name_field(call.body, "domain")
    domain = directory.domains.get(directory.domain_aliases.get(name, name))
    if domain is None:
        # Only company admins create domains (§7), so only they get the creation form.
        if not directory.is_company_admin(call.user):
            raise OmaError(NO_SUCH_OBJECT, name)
        form = {"options": OPTIONS, "defaults": DOMAIN_DEFAULTS}
        extra = {"settable_attribute": settable(DOMAIN_CHECKS), "metadata": form}
        raise OmaError(NO_SUCH_OBJECT, name, extra=extra)
    directory.require_admin(call.user, domain.name)
    return {
        "attributes": {**domain.attributes, "company": domain.company},
        "settable_attribute": settable(DOMAIN_CHECKS),
        "metadata": {"options": OPTIONS},
    }


def change_domain(call: Call) -> Reply:
    directory = call.sandbox.directory
    name = name_field(call.body, "domain")
    attributes = field(call.body, "attributes", dict, {})
    create_only = field(call.body, "create_only", bool, False)
    check_attributes(attributes, DOMAIN_CHECKS)
    domain = directory.find_domain(name)
    if domain is None:
        domain = _create(directory, call.user, name)
    else:
        require_domain_change(directory, call.user, domain.name, attributes)
        if create_only:
            raise OmaError(ALREADY_EXISTS, name)
    _apply(directory, call.user, domain, attributes)
    return {"audit": call.sandbox.audit_id()}


def _create(directory: Directory, requester: str, name: str) -> Domain:
    company = directory.company_of(requester)
    # Creating a domain is billable: `company` admins only (company_view may not, §7).
    if not directory.is_company_admin(requester) or company is None:
        raise OmaError(PERMISSION_DENIED, "only company admins create domains")
    labels = name.split(".")
    # Domain names are 3-160 characters with labels of at most 63 (§8).
    if not 3 <= len(name) <= 160 or len(labels) < 2 or not all(0 < len(x) <= 63 for x in labels):
        raise OmaError(BAD_ATTRIBUTE, f"{name!r} is not a valid domain name")
    return Domain(name, company, {**DOMAIN_DEFAULTS, "aliases": []})


def _apply(
    directory: Directory, requester: str, domain: Domain, attributes: dict[str, Any]
) -> None:
    changes = dict(attributes)
    company = changes.pop("company", domain.company)
    # Moving a domain is only possible between companies the admin controls; here, their own.
    if company != domain.company and company != directory.company_of(requester):
        raise OmaError(PERMISSION_DENIED, "cannot move the domain to that company")
    if "aliases" in changes:
        changes["aliases"] = claim_aliases(
            changes["aliases"], domain.name, directory.domains, directory.domain_aliases
        )
    for alias in domain.attributes.get("aliases", ()):
        directory.domain_aliases.pop(alias, None)
    domain.company = company
    domain.attributes.update(changes)
    directory.add_domain(domain)


def search_domains(call: Call) -> Reply:
    directory = call.sandbox.directory
    criteria = field(call.body, "criteria", dict, {})
    company = criteria.get("company") or directory.company_of(call.user)
    if company != directory.company_of(call.user):
        raise OmaError(PERMISSION_DENIED, "not your company")
    visible = [
        domain
        for domain in directory.domains.values()
        if domain.company == company and directory.administers(call.user, domain.name)
    ]
    pattern = criteria.get("match")
    if isinstance(pattern, str):
        matches = wildcard(pattern)
        visible = [domain for domain in visible if matches(domain.name)]
    visible.sort(key=lambda domain: domain.name, reverse=descending(call.body))
    users = Counter(account.domain for account in directory.accounts.values())
    rows = [{"domain": d.name, "type": "domain", "users": users[d.name]} for d in visible]
    return page(call.body, "domains", rows)
