"""The audit record: one per call, refused ones too, answering who/what/which/when/how it went."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pytest
from pytest_aiohttp import AiohttpClient
from structlog.testing import capture_logs

from gateway.app import create_app
from gateway.sandbox import Sandbox
from gateway.secrets import digest
from gateway.settings import RateSpec, Settings

from ..support import KEYS, Client, bearer, caller, make_settings


def audits(logs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(e) for e in logs if e["event"] == "audit"]


async def one_record(gw: Client, method: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with capture_logs() as logs:
        response = await gw.post(f"/api/{method}", **kwargs)
        await response.read()
    (record,) = audits(logs)
    return response.status, record


async def test_a_change_says_who_did_what_to_which_mailbox_and_that_it_worked(gw: Client) -> None:
    body = {"user": "alice@demo.example", "attributes": {"title": "CFO", "quota": 5}}
    status, record = await one_record(
        gw, "change_user", json=body, headers={**bearer("billing"), "X-Request-ID": "req-42"}
    )
    assert status == 200
    assert record["request_id"] == "req-42"
    assert record["caller"] == "billing" and record["upstream"] == "oma"
    assert record["key_id"] == digest(KEYS["billing"])[len("sha256:") :][:12]
    assert record["method"] == "change_user" and record["mutating"] is True
    assert record["targets"] == {"user": "alice@demo.example", "attributes": ["quota", "title"]}
    assert record["result"] == "success" and record["status"] == 200
    assert record["outcome"]["success"] is True and record["outcome"]["oma_audit"]
    assert record["gateway_error"] is None and record["resent"] is False
    assert record["remote"] == "127.0.0.1" and record["time"].endswith("+00:00")
    assert record["duration_ms"] >= record["upstream_ms"] > 0


async def test_a_read_is_marked_as_not_changing_state(gw: Client) -> None:
    _, record = await one_record(
        gw, "get_user", json={"user": "bob@demo.example"}, headers=bearer("billing")
    )
    assert record["mutating"] is False and record["targets"] == {"user": "bob@demo.example"}


async def test_a_method_outside_the_catalogue_is_marked_unknown(gw: Client) -> None:
    _, record = await one_record(gw, "get_nothing_at_all", json={}, headers=bearer("support"))
    assert record["method"] == "get_nothing_at_all" and record["mutating"] is None


async def test_a_refusal_oma_sent_without_json_is_recorded_with_the_code_the_caller_got(
    gw: Client,
) -> None:
    """OMA's bare 404 reaches the caller as `gateway_error: upstream_rejected`; the record and
    the metrics say the same (the record used to say null: the code lived only in the body)."""
    status, record = await one_record(gw, "get_nothing_at_all", json={}, headers=bearer("support"))
    assert status == 404
    assert record["gateway_error"] == "upstream_rejected" and record["result"] == "refused"


async def test_bulk_results_are_recorded_per_object(gw: Client) -> None:
    body = {"user": "alice@demo.example", "ids": ["d1", "nope"]}
    _, record = await one_record(
        gw, "restore_deleted_messages", json=body, headers=bearer("support")
    )
    assert record["targets"] == {"user": "alice@demo.example", "ids": ["d1", "nope"]}
    assert record["result"] == "partial"
    items = record["outcome"]["items"]
    assert items[0] == {"id": "d1", "success": True, "error_number": None}
    assert items[1] == {"id": "nope", "success": False, "error_number": 2}
    assert record["outcome"]["items_failed"] == 1


async def test_an_oma_error_is_recorded_with_its_number(gw: Client) -> None:
    _, record = await one_record(
        gw, "get_user", json={"user": "nobody@demo.example"}, headers=bearer("billing")
    )
    assert record["result"] == "oma_error"
    assert record["outcome"]["success"] is False and record["outcome"]["error_number"] == 2


async def test_a_call_resent_after_a_token_refresh_says_so(gw: Client, oma: Sandbox) -> None:
    await (await gw.post("/api/get_user", json={"user": "bob@demo.example"},
                         headers=bearer("billing"))).read()  # fmt: skip
    oma.revoke_tokens()
    _, record = await one_record(
        gw, "get_user", json={"user": "bob@demo.example"}, headers=bearer("billing")
    )
    assert record["resent"] is True and record["result"] == "success"


REFUSALS = [
    ("get_user", {"json": {"user": "a@b.c"}}, 401, "unauthenticated"),
    ("delete_user", {"json": {"user": "a@b.c"}, "headers": bearer("billing")}, 403,
     "method_not_allowed"),
    ("get_user", {"data": b"{nope", "headers": bearer("billing")}, 400, "bad_request"),
    ("get_user", {"data": io.BytesIO(b"x" * (1024 * 1024 + 1)), "headers": bearer("billing")}, 413,
     "payload_too_large"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "kwargs", "status", "code"), REFUSALS)
async def test_a_refused_call_is_audited_too(
    gw: Client, method: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    got, record = await one_record(gw, method, **kwargs)
    assert got == status
    assert record["status"] == status and record["gateway_error"] == code
    assert record["result"] == "refused" and record["outcome"] is None
    assert record["upstream_ms"] == 0


async def test_a_rate_limited_call_is_audited_and_remaining_is_recorded(gw: Client) -> None:
    args: dict[str, Any] = {"json": {"user": "bob@demo.example"}, "headers": bearer("readonly")}
    _, first = await one_record(gw, "get_user", **args)
    assert first["ratelimit_remaining"] == {"caller": 2}
    for _ in range(2):
        await (await gw.post("/api/get_user", **args)).read()
    status, refused = await one_record(gw, "get_user", **args)
    assert status == 429 and refused["gateway_error"] == "rate_limited"
    assert refused["caller"] == "readonly"


async def test_shadow_denied_limits_are_recorded(
    aiohttp_client: AiohttpClient, oma_url: str
) -> None:
    shadow = {"get_user": RateSpec(0.001, 2, shadow=True)}
    settings = make_settings(oma_url, callers={"billing": caller("billing", method_limits=shadow)})
    gw = await aiohttp_client(create_app(settings))
    args: dict[str, Any] = {"json": {"user": "bob@demo.example"}, "headers": bearer("billing")}
    _, first = await one_record(gw, "get_user", **args)
    await one_record(gw, "get_user", **args)
    status, third = await one_record(gw, "get_user", **args)
    assert "shadow_denied" not in first
    assert status == 200 and third["shadow_denied"] == ["method"]


async def test_the_presented_key_never_reaches_a_log_line(gw: Client) -> None:
    wrong = "omagw_a_mistyped_key_that_is_still_a_secret_000"
    credentials = {"user": "billing", "password": KEYS["billing"]}
    with capture_logs() as logs:
        for headers, body in [
            ({}, {"user": "bob@demo.example", "credentials": credentials}),
            ({"X-API-Key": wrong}, {"user": wrong}),
            (bearer("billing"), {"user": KEYS["billing"]}),
        ]:
            await (await gw.post("/api/get_user", json=body, headers=headers)).read()
    text = orjson.dumps(logs, default=str).decode()
    assert len(audits(logs)) == 3
    assert KEYS["billing"] not in text and wrong not in text


async def test_upstream_password_and_session_token_never_reach_a_record(
    gw: Client, oma: Sandbox, settings: Settings
) -> None:
    await (await gw.post("/api/get_user", json={"user": "bob@demo.example"},
                         headers=bearer("billing"))).read()  # fmt: skip
    token = oma.requests[-1].token
    assert token
    password = settings.upstreams["oma"].password.reveal()
    body = {"user": f"x{token}y", "new_name": password, "ids": [token]}
    _, record = await one_record(gw, "get_user", json=body, headers=bearer("support"))
    text = orjson.dumps(record).decode()
    assert token not in text and password not in text
    assert record["targets"]["user"] == "x[REDACTED]y"
