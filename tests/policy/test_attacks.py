"""The three takeovers of issue 9, replayed as an attacker would against the real sandbox: each
is refused before it reaches OMA, and the gateway's own login survives."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from gateway.policy.methods import HIGH_RISK
from gateway.sandbox import Sandbox
from gateway.settings import CallerParams, TokenRules

from ..support import OMA_PASSWORD, OMA_USER, Client, bearer, caller
from .conftest import audited_post, gateway_for

TAKEOVER = {
    "user": OMA_USER,
    "type": "oma",
    "token": "attacker-chosen-token-0001",
    "duration": 876000,
    "reason": "totally legitimate",
}


async def sandbox_direct(gw: Client, oma_url: str, body: dict[str, Any]) -> dict[str, Any]:
    """Call the sandbox itself, outside the gateway, as the attacker would with a stolen token."""
    async with gw.session.post(f"{oma_url}/get_user", json=body) as response:
        answer: dict[str, Any] = await response.json()
        return answer


def forwarded(oma: Sandbox, method: str) -> list[Any]:
    return [r for r in oma.requests if r.method == method]


@pytest.mark.parametrize(
    "params",
    [
        CallerParams(),
        # Even a config that grants every kind of token cannot reach the gateway's own login.
        CallerParams(generate_token=TokenRules(types=("session", "sso", "oma"), oma=True,
                                               max_duration=10**9)),
    ],
    ids=["default params", "everything granted"],
)  # fmt: skip
async def test_generate_token_cannot_mint_a_token_for_the_gateways_own_login(
    aiohttp_client: AiohttpClient, oma_url: str, oma: Sandbox, params: CallerParams
) -> None:
    callers = {"support": caller("support", allow=("generate_token", "get_user"), params=params)}
    gw = await gateway_for(aiohttp_client, oma_url, callers)
    response = await gw.post("/api/generate_token", json=TAKEOVER, headers=bearer("support"))
    assert response.status == 403
    assert (await response.json())["gateway_error"] == "target_not_allowed"
    assert forwarded(oma, "generate_token") == []
    # The chosen token opens nothing at OMA.
    stolen = {
        "user": "alice@demo.example",
        "credentials": {"user": OMA_USER, "token": TAKEOVER["token"]},
    }
    assert (await sandbox_direct(gw, oma_url, stolen))["error_number"] == 1


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("token", "attacker-chosen-token-0002", "chosen_token"),
        ("type", "oma", "token_type"),
        ("type", "session", "token_type"),
        ("oma", True, "oma_token"),
        ("duration", 876000, "duration"),
        ("duration", "48", "duration"),
    ],
)
async def test_each_dangerous_generate_token_parameter_is_refused_for_any_mailbox(
    aiohttp_client: AiohttpClient, oma_url: str, oma: Sandbox, field: str, value: Any, rule: str
) -> None:
    gw = await gateway_for(aiohttp_client, oma_url, {"support": caller("support")})
    body = {"user": "alice@demo.example", "type": "sso", "reason": "ticket 1", field: value}
    status, answer, record = await audited_post(gw, "generate_token", body, "support")
    assert status == 403 and answer["gateway_error"] == "parameter_not_allowed"
    assert answer["error_number"] == 4 and answer["error"].startswith("generate_token: ")
    shown = "[REDACTED]" if field == "token" else value  # a chosen token is a secret in the trail
    assert record["refusal"] == {"rule": rule, "field": field, "value": shown}
    assert record["gateway_error"] == "parameter_not_allowed"
    assert forwarded(oma, "generate_token") == []


async def test_a_missing_type_is_omas_session_and_refused_by_default(
    aiohttp_client: AiohttpClient, oma_url: str, oma: Sandbox
) -> None:
    gw = await gateway_for(aiohttp_client, oma_url, {"support": caller("support")})
    body = {"user": "alice@demo.example", "reason": "ticket 1"}
    response = await gw.post("/api/generate_token", json=body, headers=bearer("support"))
    assert (await response.json())["gateway_error"] == "parameter_not_allowed"
    assert forwarded(oma, "generate_token") == []


async def test_an_sso_token_within_the_cap_still_reaches_oma(
    aiohttp_client: AiohttpClient, oma_url: str, oma: Sandbox
) -> None:
    gw = await gateway_for(aiohttp_client, oma_url, {"support": caller("support")})
    body = {"user": "alice@demo.example", "type": "sso", "duration": 2, "reason": "ticket 1"}
    response = await gw.post("/api/generate_token", json=body, headers=bearer("support"))
    answer = await response.json()
    assert response.status == 200 and answer["success"] is True and answer["duration"] == 2
    assert len(forwarded(oma, "generate_token")) == 1


@pytest.mark.parametrize(
    "spelling", [OMA_USER, OMA_USER.upper(), f" {OMA_USER}", f"{OMA_USER}.", "Admin@Demo.ADM"]
)
async def test_change_user_cannot_reset_the_gateways_own_password(
    aiohttp_client: AiohttpClient, oma_url: str, oma: Sandbox, spelling: str
) -> None:
    gw = await gateway_for(aiohttp_client, oma_url, {"support": caller("support", allow=("*",))})
    body = {"user": spelling, "attributes": {"password": "now-it-is-mine"}}
    response = await gw.post("/api/change_user", json=body, headers=bearer("support"))
    assert response.status == 403
    assert (await response.json())["gateway_error"] == "target_not_allowed"
    assert forwarded(oma, "change_user") == []
    # The gateway is not locked out: a fresh login still works with the password it holds.
    oma.revoke_tokens()
    check = await gw.post(
        "/api/get_user", json={"user": "alice@demo.example"}, headers=bearer("support")
    )
    assert (await check.json())["success"] is True
    assert oma.directory.accounts[OMA_USER].password == OMA_PASSWORD


@pytest.mark.parametrize(
    ("method", "body"),
    [
        # Claim the login as an alias of a mailbox the attacker controls.
        ("change_user", {"user": "alice@demo.example", "attributes": {"aliases": [OMA_USER]}}),
        # Forward the login's mail, or name it anywhere a field might be read.
        (
            "change_user",
            {"user": "alice@demo.example", "attributes": {"forward_recipients": [OMA_USER]}},
        ),
        ("rename_user", {"user": "alice@demo.example", "new_name": OMA_USER}),
        ("delete_user", {"user": OMA_USER}),
        ("get_user", {"user": OMA_USER}),
        ("change_user", {"user": "alice@demo.example", "attributes": {OMA_USER: 1}}),
    ],
)
async def test_the_gateways_login_cannot_be_named_anywhere_in_a_call(
    aiohttp_client: AiohttpClient, oma_url: str, oma: Sandbox, method: str, body: dict[str, Any]
) -> None:
    gw = await gateway_for(aiohttp_client, oma_url, {"support": caller("support", allow=("*",))})
    response = await gw.post(f"/api/{method}", json=body, headers=bearer("support"))
    assert response.status == 403
    assert (await response.json())["gateway_error"] == "target_not_allowed"
    assert forwarded(oma, method) == []


async def test_other_admin_logins_are_out_of_reach_without_an_exact_scope(
    aiohttp_client: AiohttpClient, oma_url: str, oma: Sandbox
) -> None:
    gw = await gateway_for(aiohttp_client, oma_url, {"support": caller("support", allow=("*",))})
    body = {"user": "another-admin@demo.adm", "attributes": {"password": "x"}}
    response = await gw.post("/api/change_user", json=body, headers=bearer("support"))
    assert (await response.json())["gateway_error"] == "target_not_allowed"
    assert forwarded(oma, "change_user") == []


@pytest.mark.parametrize("method", sorted(HIGH_RISK))
async def test_a_wildcard_never_grants_a_high_risk_method(
    aiohttp_client: AiohttpClient, oma_url: str, oma: Sandbox, method: str
) -> None:
    callers = {
        "support": caller("support", allow=("*",)),
        "billing": caller("billing", allow=("*", method)),
    }
    gw = await gateway_for(aiohttp_client, oma_url, callers)
    body = {"user": "alice@demo.example", "domain": "demo.example", "role": "mail", "mode": "add"}
    response = await gw.post(f"/api/{method}", json=body, headers=bearer("support"))
    assert response.status == 403
    assert (await response.json())["gateway_error"] == "method_not_allowed"
    assert forwarded(oma, method) == []
    # Named exactly, it is granted (OMA then judges the call itself).
    response = await gw.post(f"/api/{method}", json=body, headers=bearer("billing"))
    assert (await response.json()).get("gateway_error") is None
    assert len(forwarded(oma, method)) == 1
