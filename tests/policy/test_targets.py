"""Target knowledge covers the whole catalogue, and scope matches domains label by label."""

from __future__ import annotations

import pytest

from gateway.catalog import catalogue
from gateway.policy import is_never_forwarded
from gateway.policy.scope import DomainScope, canonical_domain
from gateway.policy.targets import KNOWN_METHODS, extract, record_view


def test_every_forwardable_catalogued_method_has_target_knowledge() -> None:
    forwardable = {name for name in catalogue() if not is_never_forwarded(name)}
    assert forwardable - KNOWN_METHODS == set()
    assert KNOWN_METHODS - set(catalogue()) == set()  # and none is invented


def test_every_required_object_field_of_the_catalogue_is_extracted() -> None:
    # Fields that name objects, by OMA's own names; each required one must be known for its method.
    naming = {"user", "domain", "company", "brand", "new_name", "object", "users", "new_company"}
    for info in catalogue().values():
        method = info.name
        if is_never_forwarded(method):
            continue
        for field_name in set(info.required) & naming:
            body = (
                {field_name: "x@y.example"}
                if field_name != "users"
                else {"users": [{"local": "x@y.example"}]}
            )
            assert extract(method, body), (method, field_name)


@pytest.mark.parametrize(
    ("pattern", "domain", "inside"),
    [
        ("customers.example", "customers.example", True),
        ("customers.example", "evilcustomers.example", False),
        ("customers.example", "customers.example.evil.com", False),
        ("customers.example", "eu.customers.example", False),
        ("*.customers.example", "eu.customers.example", True),
        ("*.customers.example", "a.b.customers.example", True),
        ("*.customers.example", "customers.example", False),
        ("*.customers.example", "evilcustomers.example", False),
        ("cust*.example", "customers.example", True),
        ("cust*.example", "cust.evil.example", False),
        ("*", "anything.example", True),
        ("*", "demo.adm", False),
        ("demo.adm", "demo.adm", True),
        ("*.adm", "demo.adm", False),
        ("Customers.Example.", "customers.example", True),
    ],
)
def test_domain_patterns_match_whole_labels(pattern: str, domain: str, inside: bool) -> None:
    canonical = canonical_domain(domain)
    assert canonical is not None
    assert DomainScope([pattern]).contains(canonical) is inside


@pytest.mark.parametrize(
    "name", ["", "a", "a..b", " a.example", "a.example ", "-a.example", "a_b/c.example"]
)
def test_malformed_domain_names_are_not_names(name: str) -> None:
    assert canonical_domain(name) is None


def test_the_audit_view_keeps_list_fields_as_lists() -> None:
    body = {"users": [{"local": "a@x.example"}, {"local": "b@x.example"}], "job": "j"}
    assert record_view(extract("migration_add", body)) == {
        "users.local": ["a@x.example", "b@x.example"],
        "job": "j",
    }
