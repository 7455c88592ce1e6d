"""The README's least-privilege table, held against the sandbox's role model (upstream-facts §7):
the OMA role it advises for each kind of caller serves that caller's calls, and the role it warns
against does not."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from gateway.sandbox import Sandbox
from gateway.sandbox.roles import RoleKind
from gateway.settings import CallerParams, ChangeRules, TokenRules

from ..support import Client, bearer, caller
from .conftest import gateway_for

HELPDESK_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("get_user", {"user": "alice@demo.example"}),
    ("search_users", {"criteria": {"domain": "demo.example"}}),
    ("change_user", {"user": "alice@demo.example", "attributes": {"password": "N3w-pass-word"}}),
    ("change_user", {"user": "alice@demo.example", "attributes": {"name": "Alice E."}}),
    ("change_user", {"user": "bob@demo.example", "attributes": {"status": "suspended"}}),
    (
        "generate_token",
        {"user": "alice@demo.example", "type": "sso", "duration": 1, "reason": "t1"},
    ),
]


async def helpdesk(aiohttp_client: AiohttpClient, oma_url: str) -> Client:
    """The README's helpdesk caller, scoped to the customer domain."""
    params = CallerParams(
        generate_token=TokenRules(types=("sso",), max_duration=7200.0, types_given=True),
        change_user=ChangeRules(attributes=("password", "name", "status")),
    )
    allow = ("get_user", "change_user", "search_users", "generate_token")
    support = caller("support", allow=allow, scope=("demo.example",), params=params)
    return await gateway_for(aiohttp_client, oma_url, {"support": support})


async def answers(gw: Client) -> dict[str, Any]:
    """OMA's answer to each of the helpdesk's calls, by position."""
    found = {}
    for i, (method, body) in enumerate(HELPDESK_CALLS):
        response = await gw.post(f"/api/{method}", json=body, headers=bearer("support"))
        assert response.status == 200, await response.text()  # the gateway let it through
        found[f"{i}:{method}"] = await response.json()
    return found


@pytest.mark.parametrize("role", ["domain", "company_mail"])
async def test_the_advised_roles_serve_a_helpdesk_that_mints_tokens(
    aiohttp_client: AiohttpClient, oma_url: str, oma: Sandbox, role: RoleKind
) -> None:
    oma.set_role(role)
    found = await answers(await helpdesk(aiohttp_client, oma_url))
    assert all(answer["success"] is True for answer in found.values()), found


async def test_a_mail_admin_cannot_serve_a_helpdesk_that_mints_tokens_or_sets_names(
    aiohttp_client: AiohttpClient, oma_url: str, oma: Sandbox
) -> None:
    oma.set_role("mail")
    found = await answers(await helpdesk(aiohttp_client, oma_url))
    refused = sorted(key for key, answer in found.items() if answer["success"] is not True)
    assert refused == ["3:change_user", "4:change_user", "5:generate_token"], found
    assert {found[k]["error_number"] for k in refused} == {4}  # OMA's "not allowed"


async def test_a_token_only_login_serves_the_sso_portal_and_nothing_else(
    aiohttp_client: AiohttpClient, oma_url: str, oma: Sandbox
) -> None:
    oma.set_role("company_token_only")
    gw = await helpdesk(aiohttp_client, oma_url)
    found = await answers(gw)
    served = sorted(key for key, answer in found.items() if answer["success"] is True)
    assert served == ["5:generate_token"], found
