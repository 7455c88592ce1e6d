"""Request ids: kept when sane, made otherwise, returned, on every log line, and sent to OMA."""

from __future__ import annotations

import re

import pytest
from structlog.testing import capture_logs

from gateway.logs import add_request_id
from gateway.sandbox import Fault, Sandbox

from ..support import Client, bearer

GET_BOB = {"user": "bob@demo.example"}


async def test_a_sane_request_id_is_kept_and_returned(gw: Client) -> None:
    response = await gw.post(
        "/api/get_user", json=GET_BOB, headers={**bearer("billing"), "X-Request-ID": "abc-123.x:y"}
    )
    assert response.headers["X-Request-ID"] == "abc-123.x:y"


@pytest.mark.parametrize("sent", ["has spaces", "x" * 200, "-leading-dash", 'quote"d', "é"])
async def test_an_insane_request_id_is_replaced_by_a_fresh_one(gw: Client, sent: str) -> None:
    response = await gw.post(
        "/api/get_user", json=GET_BOB, headers={**bearer("billing"), "X-Request-ID": sent}
    )
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


async def test_a_refused_call_gets_a_request_id_too(gw: Client) -> None:
    response = await gw.post("/api/get_user", json=GET_BOB)
    assert response.status == 401 and re.fullmatch(
        r"[0-9a-f]{32}", response.headers["X-Request-ID"]
    )


async def test_the_request_id_reaches_oma_in_credentials_client(gw: Client, oma: Sandbox) -> None:
    await gw.post(
        "/api/get_user", json=GET_BOB, headers={**bearer("billing"), "X-Request-ID": "r-77"}
    )
    assert oma.requests[-1].client == "acme-gw caller=billing request=r-77"


TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_every_log_line_of_a_call_carries_its_request_and_trace_ids(
    gw: Client, oma: Sandbox
) -> None:
    await (await gw.post("/api/get_user", json=GET_BOB, headers=bearer("billing"))).read()
    oma.revoke_tokens()
    oma.faults.reject_logins = Fault(times=1)  # the re-login inside this call logs a warning
    headers = {
        **bearer("billing"),
        "X-Request-ID": "r-99",
        "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01",
    }
    with capture_logs(processors=[add_request_id]) as logs:
        response = await gw.post("/api/get_user", json=GET_BOB, headers=headers)
        await response.read()
    assert response.status == 502
    events = [e["event"] for e in logs]
    assert "oma_login_rejected" in events and "audit" in events
    assert all(e.get("request_id") == "r-99" for e in logs), logs
    assert all(e.get("trace_id") == TRACE for e in logs), logs


async def test_a_call_without_traceparent_has_one_made_trace_id_on_all_its_lines(
    gw: Client, oma: Sandbox
) -> None:
    await (await gw.post("/api/get_user", json=GET_BOB, headers=bearer("billing"))).read()
    oma.revoke_tokens()
    oma.faults.reject_logins = Fault(times=1)
    with capture_logs(processors=[add_request_id]) as logs:
        await (await gw.post("/api/get_user", json=GET_BOB, headers=bearer("billing"))).read()
    assert len(logs) >= 2  # the login warning and the audit record
    (made,) = {e.get("trace_id") for e in logs}
    assert isinstance(made, str) and re.fullmatch(r"[0-9a-f]{32}", made)
