"""The /_sandbox/* control endpoints."""

from __future__ import annotations

import io

import orjson
from pytest_aiohttp import AiohttpClient

from gateway.sandbox import Sandbox, create_sandbox_app

from .support import ADMIN, Client, oma, session_token, with_token


async def test_recorded_requests_are_readable_over_http(client: Client) -> None:
    await oma(client, "authenticate", {**ADMIN, "client": "acme-gw caller=svc"})
    await oma(client, "get_user", user="alice@demo.example", attributes=["name"])
    state = await (await client.get("/_sandbox/requests")).json()
    assert state["authenticate_count"] == 1
    assert state["requests"] == [
        {
            "method": "authenticate",
            "client": "acme-gw caller=svc",
            "user": "admin@demo.adm",
            "auth": "password",
            "token": None,
            "body": {},
            "traceparent": None,
            "tracestate": None,
        },
        {
            "method": "get_user",
            "client": None,
            "user": "admin@demo.adm",
            "auth": "password",
            "token": None,
            "body": {"user": "alice@demo.example", "attributes": ["name"]},
            "traceparent": None,
            "tracestate": None,
        },
    ]


async def test_clock_endpoint_moves_a_manual_clock(client: Client) -> None:
    token = await session_token(client, session_token_duration=10)
    response = await client.post("/_sandbox/clock", json={"advance": 10})
    assert response.status == 200
    reply = await oma(client, "authenticate", with_token("admin@demo.adm", token))
    assert reply["error_number"] == 1


async def test_clock_endpoint_refuses_bad_amounts(client: Client) -> None:
    assert (await client.post("/_sandbox/clock", json={"advance": -5})).status == 400
    assert (await client.post("/_sandbox/clock", data=b"[")).status == 400


async def test_clock_endpoint_is_refused_on_the_real_clock(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(create_sandbox_app(Sandbox()))
    response = await client.post("/_sandbox/clock", json={"advance": 1})
    assert response.status == 409


async def test_revoke_tokens_endpoint(client: Client) -> None:
    token = await session_token(client)
    assert (await client.post("/_sandbox/revoke_tokens")).status == 200
    reply = await oma(client, "authenticate", with_token("admin@demo.adm", token))
    assert reply["error_number"] == 1


async def test_reset_endpoint_restores_the_seed_and_clears_the_log(
    client: Client, sandbox: Sandbox
) -> None:
    await oma(client, "delete_user", user="bob@demo.example")
    assert (await client.post("/_sandbox/reset")).status == 200
    assert sandbox.requests == []
    assert sandbox.authenticate_count == 0
    assert (await oma(client, "get_user", user="bob@demo.example"))["success"] is True


async def test_role_endpoint_changes_the_configured_logins_role(client: Client) -> None:
    assert await (await client.get("/_sandbox/role")).json() == {
        "user": "admin@demo.adm",
        "role": "company",
    }
    changed = await client.post("/_sandbox/role", json={"role": "company_token_only"})
    assert (await changed.json())["role"] == "company_token_only"
    assert (await oma(client, "get_user", user="bob@demo.example"))["error_number"] == 4
    await client.post("/_sandbox/reset")
    # A reset restores the data, not the role: the role is how the sandbox was started.
    assert (await oma(client, "get_user", user="bob@demo.example"))["error_number"] == 4


async def test_role_endpoint_refuses_unknown_roles(client: Client) -> None:
    for body in ({"role": "root"}, {"role": 3}, {}):
        assert (await client.post("/_sandbox/role", json=body)).status == 400
    assert (await (await client.get("/_sandbox/role")).json())["role"] == "company"


async def test_a_sandbox_built_with_a_role_gives_it_to_the_configured_login(
    aiohttp_client: AiohttpClient,
) -> None:
    client = await aiohttp_client(create_sandbox_app(Sandbox(role="company_ro")))
    assert (await oma(client, "get_user", user="bob@demo.example"))["success"] is True
    reply = await oma(client, "change_user", user="bob@demo.example", attributes={"title": "x"})
    assert reply["error_number"] == 4


async def test_a_large_body_is_recorded_by_its_size_only(client: Client) -> None:
    # The bundled sandbox lives in the gateway's process: its log must not keep callers' bodies
    # whole, and a body bigger than aiohttp's default 1 MiB is still OMA's logic to answer.
    padding = "x" * (2 * 1024 * 1024)
    body = {"credentials": ADMIN, "user": "alice@demo.example", "note": padding}
    response = await client.post("/api/get_user", data=io.BytesIO(orjson.dumps(body)))
    assert (await response.json())["success"] is True
    state = await (await client.get("/_sandbox/requests")).json()
    body = state["requests"][-1]["body"]
    assert set(body) == {"_omitted_bytes"} and body["_omitted_bytes"] > len(padding)
