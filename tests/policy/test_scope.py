"""Scope through the gateway: a scoped caller reaches only objects in its domains; allowed calls
arrive at OMA unchanged apart from credentials, refused ones arrive nowhere, and the audit record
names the rule, the field and the value that refused it."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from gateway.app import METRICS

from ..support import KEYS, Client, caller
from .conftest import Recorder, audited_post, gateway_for

SCOPE = ("customers.example", "*.customers.example")


@pytest.fixture
async def gw(aiohttp_client: AiohttpClient, recorder: tuple[Recorder, str]) -> Client:
    callers = {
        "support": caller("support", allow=("*", "set_role"), scope=SCOPE),
        "billing": caller("billing", allow=("*",)),  # unscoped
    }
    return await gateway_for(aiohttp_client, recorder[1], callers)


IN_SCOPE: list[tuple[str, dict[str, Any]]] = [
    ("get_user", {"user": "alice@customers.example"}),
    ("get_user", {"user": "Alice@Customers.EXAMPLE"}),
    ("get_user", {"user": "bob@eu.customers.example"}),
    ("get_user", {"user": "bob@a.b.customers.example"}),
    (
        "change_user",
        {"user": "a@customers.example", "attributes": {"aliases": ["b@eu.customers.example"]}},
    ),
    ("rename_user", {"user": "a@customers.example", "new_name": "b@customers.example"}),
    ("search_users", {"criteria": {"domain": "customers.example", "match": "a*"}}),
    ("search_workgroups", {"criteria": {"domain": "eu.customers.example"}}),
    ("get_domain", {"domain": "customers.example"}),
    (
        "change_domain",
        {"domain": "eu.customers.example", "attributes": {"aliases": ["x.customers.example"]}},
    ),
    ("create_workgroup", {"domain": "customers.example", "workgroup": "sales"}),
    ("stats_snapshot", {"type": "domain", "object": "customers.example", "date": "2026-11"}),
    ("stats_summary", {"type": "user", "object": "a@customers.example"}),
    ("migration_add", {"users": [{"local": "a@customers.example", "remote": "a@old.example"}]}),
    ("migration_trace", {"job": "j1", "user": "a@customers.example"}),
    ("move_user_messages", {"user": "a@customers.example", "ids": ["m1", "m2"], "folder": "Trash"}),
    (
        "set_role",
        {"user": "a@customers.example", "role": "mail", "object": "customers.example/sales"},
    ),
    ("echo", {"anything": "goes"}),
]


@pytest.mark.parametrize(
    ("method", "body"), IN_SCOPE, ids=[f"{m}-{i}" for i, (m, _) in enumerate(IN_SCOPE)]
)
async def test_an_in_scope_call_reaches_oma_unchanged_apart_from_credentials(
    gw: Client, recorder: tuple[Recorder, str], method: str, body: dict[str, Any]
) -> None:
    sent = {**body, "credentials": {"user": "support", "password": KEYS["support"], "client": "x"}}
    status, answer, record = await audited_post(gw, method, sent, "support")
    assert status == 200 and answer == {"success": True}
    ((seen_method, seen),) = recorder[0].forwarded()
    assert seen_method == method
    assert {k: v for k, v in seen.items() if k != "credentials"} == body
    assert seen["credentials"]["user"] == "admin@demo.adm"
    assert record["refusal"] is None and record["result"] == "success"


OUT_OF_SCOPE: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("get_user", {"user": "alice@evilcustomers.example"}, "outside_scope", "user"),
    ("get_user", {"user": "alice@customers.example.evil.com"}, "outside_scope", "user"),
    ("get_user", {"user": "alice@other.example"}, "outside_scope", "user"),
    ("get_user", {"user": "alice@customers.example@evil.com"}, "outside_scope", "user"),
    ("get_user", {"user": "alice"}, "outside_scope", "user"),
    ("get_user", {"user": ["alice@customers.example"]}, "outside_scope", "user"),
    ("get_user", {"user": "alice@customers..example"}, "outside_scope", "user"),
    ("get_user", {}, "no_target", None),
    (
        "change_user",
        {"user": "a@customers.example", "attributes": {"aliases": ["a@evil.example"]}},
        "outside_scope",
        "attributes.aliases[]",
    ),
    (
        "rename_user",
        {"user": "a@customers.example", "new_name": "a@evil.example"},
        "outside_scope",
        "new_name",
    ),
    ("search_users", {"criteria": {"match": "*"}}, "no_target", None),
    ("search_users", {"criteria": {"domain": "evil.example"}}, "outside_scope", "criteria.domain"),
    ("search_domains", {"criteria": {"match": "*"}}, "no_target", None),
    ("search_domains", {"criteria": {"company": "Demo Co"}}, "company_wide", "criteria.company"),
    ("search_admins", {}, "no_target", None),
    ("get_company", {"company": "Demo Co"}, "company_wide", "company"),
    (
        "change_domain",
        {"domain": "customers.example", "attributes": {"company": "Other Co"}},
        "company_wide",
        "attributes.company",
    ),
    (
        "stats_snapshot",
        {"type": "company", "object": "Demo Co", "date": "2026-11"},
        "company_wide",
        "object",
    ),
    ("stats_summary", {}, "no_target", None),
    (
        "migration_add",
        {"users": [{"local": "a@customers.example"}, {"local": "b@evil.example"}]},
        "outside_scope",
        "users[].local",
    ),
    ("migration_status", {"job": "j1"}, "no_target", None),
    ("migration_jobs", {}, "unscopable_method", None),
    ("stats_list", {}, "unscopable_method", None),
    ("get_nothing_at_all", {"user": "a@customers.example"}, "unscopable_method", None),
    (
        "set_role",
        {"user": "a@customers.example", "role": "company", "object": "Demo Co"},
        "company_wide",
        "object",
    ),
    ("get_user", {"user": "admin@customers.adm"}, "outside_scope", "user"),
]


@pytest.mark.parametrize(
    ("method", "body", "rule", "field"),
    OUT_OF_SCOPE,
    ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(OUT_OF_SCOPE)],
)
async def test_an_out_of_scope_call_is_refused_and_reaches_nothing(
    gw: Client,
    recorder: tuple[Recorder, str],
    method: str,
    body: dict[str, Any],
    rule: str,
    field: str | None,
) -> None:
    status, answer, record = await audited_post(gw, method, body, "support")
    assert status == 403
    assert answer["gateway_error"] == "target_not_allowed" and answer["error_number"] == 4
    assert recorder[0].forwarded() == []
    assert record["gateway_error"] == "target_not_allowed"
    assert record["refusal"]["rule"] == rule and record["refusal"]["field"] == field


async def test_an_unscoped_caller_reaches_any_domain_but_no_admin_login(
    gw: Client, recorder: tuple[Recorder, str]
) -> None:
    status, _, _ = await audited_post(gw, "get_user", {"user": "x@anything.example"}, "billing")
    assert status == 200
    status, _, record = await audited_post(gw, "get_user", {"user": "boss@demo.adm"}, "billing")
    assert status == 403 and record["refusal"]["rule"] == "admin_login"
    assert len(recorder[0].forwarded()) == 1


async def test_an_exact_scope_entry_can_reach_an_admin_pseudo_domain(
    aiohttp_client: AiohttpClient, recorder: tuple[Recorder, str]
) -> None:
    callers = {"support": caller("support", scope=("*", "ops.adm"))}
    gw = await gateway_for(aiohttp_client, recorder[1], callers)
    assert (await audited_post(gw, "get_user", {"user": "a@ops.adm"}, "support"))[0] == 200
    assert (await audited_post(gw, "get_user", {"user": "a@other.adm"}, "support"))[0] == 403


async def test_the_audit_record_lists_what_scope_judged(gw: Client) -> None:
    body = {
        "user": "a@customers.example",
        "attributes": {"aliases": ["b@customers.example"], "name": "A"},
    }
    _, _, record = await audited_post(gw, "change_user", body, "support")
    assert record["targets"] == {
        "user": "a@customers.example",
        "attributes.aliases": ["b@customers.example"],
        "attributes": ["aliases", "name"],
    }


async def test_a_refused_call_is_counted_by_code_and_method(gw: Client) -> None:
    await audited_post(gw, "get_user", {"user": "a@evil.example"}, "support")
    exposed = gw.app[METRICS].registry.get_sample_value(
        "oma_gateway_requests_total",
        {"caller": "support", "method": "get_user", "outcome": "target_not_allowed"},
    )
    assert exposed == 1.0
