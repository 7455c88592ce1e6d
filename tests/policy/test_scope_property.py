"""Property: whatever body is drawn for whatever catalogued method, a scoped caller's policy lets
nothing through that names an object outside its scope.

The oracle below is written independently of `gateway.policy.targets`: OMA's object fields by
their documented names, read straight from the body that would be forwarded. Drawn values mix
in-scope and out-of-scope names, look-alike domains, admin logins, odd casing and non-strings.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.catalog import catalogue
from gateway.errors import GatewayError
from gateway.policy import is_never_forwarded
from gateway.policy.caller import CallerPolicy
from gateway.policy.methods import Allowlist
from gateway.policy.params import ParamRules
from gateway.policy.scope import DomainScope, ProtectedLogins
from gateway.settings import CallerParams

#: Documented to touch no object (echo reflects its body; the others list reference data).
GLOBAL = {"echo", "get_valid_languages", "get_valid_timezones"}
INSIDE = ["customers.example", "eu.customers.example", "a.b.customers.example"]
OUTSIDE = ["evilcustomers.example", "customers.example.evil.com", "other.example", "demo.adm"]
METHODS = sorted(m for m in catalogue() if not is_never_forwarded(m))


def _policy() -> CallerPolicy:
    # Only the parts authorize() uses; limits and forwarder are not consulted by it.
    return CallerPolicy(
        name="scoped",
        allowlist=Allowlist(("*", *sorted(catalogue()))),
        scope=DomainScope(["customers.example", "*.customers.example"]),
        protected=ProtectedLogins(["admin@demo.adm"]),
        params=ParamRules(CallerParams()),
        limits=None,  # type: ignore[arg-type]  # not used by authorize
        forwarder=None,  # type: ignore[arg-type]
    )


POLICY = _policy()

domains = st.sampled_from(INSIDE + OUTSIDE).flatmap(
    lambda d: st.sampled_from([d, d.upper(), f"{d}.", f" {d}"])
)
mailboxes = st.builds(
    lambda local, d: f"{local}@{d}", st.sampled_from(["a", "Bob", "x.y"]), domains
)
names = st.one_of(mailboxes, domains, st.just("admin@demo.adm"), st.text(max_size=8))
values: st.SearchStrategy[Any] = st.one_of(
    names, st.lists(names, max_size=3), st.integers(), st.none(), st.booleans()
)
nested = st.fixed_dictionaries(
    {},
    optional={
        "domain": values, "company": values, "brand": values, "match": values,
        "aliases": values, "local": values, "user": values,
    },
)  # fmt: skip


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    method = draw(st.sampled_from(METHODS))
    info = catalogue()[method]
    fields = [*info.required, "user", "domain", "object", "objects", "new_name", "company"]
    body: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(fields), max_size=6, unique=True)):
        body[name] = draw(values)
    for name in ("criteria", "attributes"):
        if draw(st.booleans()):
            body[name] = draw(nested)
    if draw(st.booleans()):
        body["users"] = draw(st.lists(nested, max_size=3))
    if method == "generate_token":
        body.update(type="sso", reason="r")
    return method, body


def _strings(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _named_objects(body: dict[str, Any]) -> list[Any]:
    """Every value in an object-naming field of OMA's, by the documented field names."""
    found = [body.get(k) for k in ("user", "domain", "new_name") if k in body]
    found += _strings(body.get("object")) + _strings(body.get("objects"))
    for key in ("criteria", "attributes"):
        part = body.get(key)
        if isinstance(part, dict):
            found += _strings(part.get("domain"))
    attributes = body.get("attributes")
    if isinstance(attributes, dict):
        found += _strings(attributes.get("aliases"))
    for entry in body.get("users") or []:
        if isinstance(entry, dict):
            found += _strings(entry.get("local")) + _strings(entry.get("user"))
    return [v for v in found if v is not None]


def _inside(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    domain = value.rpartition("@")[2].partition("/")[0].lower().removesuffix(".")
    return domain == "customers.example" or domain.endswith(".customers.example")


def _company_objects(body: dict[str, Any]) -> list[Any]:
    found = [body.get(k) for k in ("company", "brand", "new_company")]
    for key in ("criteria", "attributes"):
        part = body.get(key)
        if isinstance(part, dict):
            found += [part.get("company"), part.get("brand")]
    return [v for v in found if v is not None]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls())
def test_a_scoped_caller_never_forwards_an_object_outside_its_scope(
    call: tuple[str, dict[str, Any]],
) -> None:
    method, body = call
    targets = POLICY.targets(method, body)
    try:
        forwarded = POLICY.authorize(method, body, targets)
    except GatewayError as refusal:
        assert refusal.code in ("target_not_allowed", "parameter_not_allowed", "method_not_allowed")
        return
    assert "admin@demo.adm" not in str(forwarded).lower()
    if method in GLOBAL:
        return
    assert all(_inside(v) for v in _named_objects(forwarded)), (method, forwarded)
    assert _company_objects(forwarded) == [], (method, forwarded)
