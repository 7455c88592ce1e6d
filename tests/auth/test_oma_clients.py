"""What OMA client libraries need beyond token mode: refusals they can read (`refusal_status`),
the base-URL forms they build, their own `client` label kept, and a claimed name on a 401."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient
from structlog.testing import capture_logs

from gateway.app import create_app
from gateway.sandbox import Sandbox
from gateway.settings import RateSpec, Settings

from ..support import KEYS, Client, bearer, caller, make_settings

ALICE = {"user": "alice@demo.example"}
BODY_CREDS = {"user": "billing", "password": KEYS["billing"]}


async def gateway(aiohttp_client: AiohttpClient, settings: Settings, **overrides: Any) -> Client:
    return await aiohttp_client(create_app(replace(settings, **overrides)))


@pytest.mark.parametrize(
    ("mode", "oma_style", "status"),
    [("auto", True, 200), ("auto", False, 403), ("http", True, 403), ("http", False, 403),
     ("oma", True, 200), ("oma", False, 200)],
)  # fmt: skip
async def test_refusal_status_decides_the_http_status_of_the_gateways_own_answers(
    aiohttp_client: AiohttpClient, settings: Settings, mode: str, oma_style: bool, status: int
) -> None:
    gw = await gateway(aiohttp_client, settings, refusal_status=mode)
    body = {**ALICE, "credentials": BODY_CREDS} if oma_style else ALICE
    headers = {} if oma_style else bearer("billing")
    response = await gw.post("/api/delete_user", json=body, headers=headers)  # not allowed
    assert response.status == status
    answer = await response.json()  # the body is the same envelope whatever the status
    assert answer["error_number"] == 4 and answer["gateway_error"] == "method_not_allowed"
    assert response.headers["X-Request-ID"]


@pytest.mark.parametrize(("mode", "status"), [("auto", 413), ("oma", 200)])
async def test_a_body_too_large_to_read_keeps_its_http_status_unless_refusal_status_is_oma(
    aiohttp_client: AiohttpClient, settings: Settings, mode: str, status: int
) -> None:
    # README, "Decisions and known limits": the body is refused unread, so under auto the
    # gateway cannot know it carried OMA credentials; `refusal_status: oma` answers with 200.
    gw = await gateway(aiohttp_client, settings, refusal_status=mode, max_body=1024)
    body = {**ALICE, "credentials": BODY_CREDS, "pad": "x" * 2048}
    response = await gw.post("/api/get_user", json=body)
    assert response.status == status and response.headers["X-Request-ID"]
    answer = await response.json()
    assert answer["error_number"] == 5 and answer["gateway_error"] == "payload_too_large"


async def test_a_perl_style_client_sees_rate_limiting_with_its_headers(
    aiohttp_client: AiohttpClient, oma_url: str
) -> None:
    limited = {"billing": caller("billing", rate_limit=RateSpec(rate=0.01, burst=1))}
    gw = await aiohttp_client(create_app(make_settings(oma_url, limited)))
    body = {**ALICE, "credentials": BODY_CREDS}
    assert (await gw.post("/api/get_user", json=body)).status == 200
    refused = await gw.post("/api/get_user", json=body)
    assert refused.status == 200  # Perl's client parses a body only from a 2xx
    answer = await refused.json()
    assert answer["gateway_error"] == "rate_limited" and answer["success"] is False
    assert "Retry-After" in refused.headers and "RateLimit" in refused.headers


@pytest.mark.parametrize(
    "path",
    ["/api/get_user", "/api//get_user", "/api///get_user", "/api/api/get_user", "/get_user"],
)
async def test_every_documented_base_url_form_reaches_the_method(gw: Client, path: str) -> None:
    response = await gw.post(path, json=ALICE, headers=bearer("billing"))
    assert response.status == 200 and (await response.json())["success"] is True


@pytest.mark.parametrize(
    "path", ["/v1/get_user", "/api/x/get_user", "/api/api/api/get_user", "/api", "/"]
)
async def test_no_other_path_names_a_method(gw: Client, path: str) -> None:
    response = await gw.post(path, json=ALICE, headers=bearer("billing"))
    assert response.status == 404 and (await response.json())["gateway_error"] == "not_found"


async def test_the_path_forms_keep_the_allowlist_and_the_name_check(gw: Client) -> None:
    denied = await gw.post("/api//delete_user", json=ALICE, headers=bearer("billing"))
    assert (await denied.json())["gateway_error"] == "method_not_allowed"
    malformed = await gw.post("/api/api/DELETE_USER", json=ALICE, headers=bearer("billing"))
    assert (await malformed.json())["gateway_error"] == "bad_request"


@pytest.mark.parametrize(
    ("client", "kept"),
    [("Perl OMA Client 0.02", True), ("Ruby OpenSRS::OMA 0.0.2", True), ("x" * 64, True),
     ("x" * 65, False), ("naïve", False), ("a\nb", False), (42, False)],
)  # fmt: skip
async def test_the_callers_own_client_label_is_kept_when_sane(
    gw: Client, oma: Sandbox, client: object, kept: bool
) -> None:
    body = {**ALICE, "credentials": {**BODY_CREDS, "client": client}}
    with capture_logs() as logs:
        await gw.post("/api/get_user", json=body, headers={"X-Request-ID": "r-1"})
    forwarded = oma.requests[-1].client
    assert forwarded == "acme-gw caller=billing request=r-1" + (f" {client}" if kept else "")
    (record,) = [e for e in logs if e["event"] == "audit"]
    assert record["client"] == (client if kept else None)


async def test_a_401_records_the_claimed_caller_name_bounded(gw: Client) -> None:
    body = {**ALICE, "credentials": {"user": "billing\x00" + "y" * 100, "password": "wrong"}}
    with capture_logs() as logs:
        answer = await (await gw.post("/api/get_user", json=body)).json()
    assert answer["gateway_error"] == "unauthenticated"
    (record,) = [e for e in logs if e["event"] == "audit"]
    assert record["claimed_caller"] == "billing?" + "y" * 56
    assert record["caller"] is None and record["targets"] == {}
