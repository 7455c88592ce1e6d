"""Forwarding: OMA's answer passes through; failures map to the contract's 400/413/502/504."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from pytest_aiohttp import AiohttpClient

from gateway.app import create_app
from gateway.sandbox import Fault, Sandbox
from gateway.settings import Settings

from .support import Client, bearer, make_settings, upstream


async def test_oma_failures_pass_through_in_band_with_their_extra_data(gw: Client) -> None:
    # get_user on a missing, creatable mailbox: error 2 plus the defaults to create it with.
    response = await gw.post(
        "/api/get_user", json={"user": "nobody@demo.example"}, headers=bearer("billing")
    )
    assert response.status == 200
    body = await response.json()
    assert body["success"] is False and body["error_number"] == 2
    assert "settable_attributes" in body and "metadata" in body
    assert "gateway_error" not in body


async def test_body_is_forwarded_unchanged_apart_from_credentials(gw: Client, oma: Sandbox) -> None:
    body = {"user": "alice@demo.example", "attributes": {"title": "CFO"}}
    response = await gw.post("/api/change_user", json=body, headers=bearer("billing"))
    assert (await response.json())["success"] is True
    check = await gw.post(
        "/api/get_user", json={"user": "alice@demo.example"}, headers=bearer("billing")
    )
    assert (await check.json())["attributes"]["title"] == "CFO"


async def test_unknown_method_allowed_by_pattern_gets_omas_404(gw: Client) -> None:
    response = await gw.post("/api/get_nothing_at_all", json={}, headers=bearer("support"))
    assert response.status == 404
    body = await response.json()
    assert body["success"] is False and body["gateway_error"] == "upstream_rejected"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"", "not valid JSON"),
    ],
)
async def test_body_that_is_not_a_json_object_is_a_400(gw: Client, data: bytes, why: str) -> None:
    response = await gw.post("/api/get_user", data=data, headers=bearer("billing"))
    assert response.status == 400
    body = await response.json()
    assert body["gateway_error"] == "bad_request" and why in body["error"]


async def test_body_over_max_body_is_a_413(aiohttp_client: AiohttpClient, oma_url: str) -> None:
    gw = await aiohttp_client(create_app(make_settings(oma_url, max_body=1024)))
    big = b'{"user": "' + b"a" * 2048 + b'"}'
    response = await gw.post("/api/get_user", data=big, headers=bearer("billing"))
    assert response.status == 413
    assert (await response.json())["gateway_error"] == "payload_too_large"


async def test_chunked_body_over_max_body_is_refused_without_reading_it_all(
    aiohttp_client: AiohttpClient, oma_url: str
) -> None:
    gw = await aiohttp_client(create_app(make_settings(oma_url, max_body=1024)))
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"user": "'
        for _ in range(10_000):  # 10 MB offered; the gateway must stop long before
            sent += 1
            yield b"a" * 1024

    response = await gw.post("/api/get_user", data=chunks(), headers=bearer("billing"))
    assert response.status == 413
    assert sent < 10_000


def _with_timeout(settings: Settings, seconds: float) -> Settings:
    oma = settings.upstreams["oma"]
    return replace(settings, upstreams={"oma": replace(oma, timeout=seconds)})


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [("http_500", 502, "upstream_unavailable"), ("non_json", 502, "upstream_unavailable"),
     ("reset", 502, "upstream_unavailable"), ("hang", 504, "upstream_timeout")],
)  # fmt: skip
async def test_upstream_failures_map_to_the_contracts_answers(
    aiohttp_client: AiohttpClient,
    oma: Sandbox,
    settings: Settings,
    fault: str,
    status: int,
    code: str,
) -> None:
    gw = await aiohttp_client(create_app(_with_timeout(settings, 0.5)))
    # Warm the session first so the fault hits the call itself, not the login.
    assert (
        await gw.post("/api/get_user", json={"user": "bob@demo.example"}, headers=bearer("billing"))
    ).status == 200
    setattr(oma.faults, fault, Fault(methods={"get_user"}, times=1))
    response = await gw.post(
        "/api/get_user", json={"user": "bob@demo.example"}, headers=bearer("billing")
    )
    assert response.status == status
    assert (await response.json())["gateway_error"] == code
    # The fault was spent: the next call goes through on the same pooled session.
    again = await gw.post(
        "/api/get_user", json={"user": "bob@demo.example"}, headers=bearer("billing")
    )
    assert again.status == 200


async def test_refused_connection_is_upstream_unavailable(aiohttp_client: AiohttpClient) -> None:
    from .support import free_port

    settings = make_settings(f"http://127.0.0.1:{free_port()}/api")
    gw = await aiohttp_client(create_app(settings))
    response = await gw.post(
        "/api/get_user", json={"user": "bob@demo.example"}, headers=bearer("billing")
    )
    assert response.status == 502
    assert (await response.json())["gateway_error"] == "upstream_unavailable"


async def test_every_answer_carries_a_request_id_and_a_sane_one_is_kept(gw: Client) -> None:
    kept = await gw.post(
        "/api/get_user", json={}, headers={**bearer("billing"), "X-Request-ID": "abc-123"}
    )
    assert kept.headers["X-Request-ID"] == "abc-123"
    made = await gw.post("/api/get_user", json={}, headers={"X-Request-ID": "bad id\twith spaces"})
    assert made.status == 401
    assert (
        made.headers["X-Request-ID"] != "bad id\twith spaces"
        and len(made.headers["X-Request-ID"]) == 32
    )


def test_upstream_helper_builds_distinct_settings() -> None:
    assert upstream("http://a/api").url == "http://a/api"
