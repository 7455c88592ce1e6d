"""Download links through the gateway: `stats_snapshot` / `migration_trace` answer a gateway URL
instead of OMA's tokenised one; the same caller streams the file, nobody else does. Against a real
aiohttp upstream that serves the file only with its own token, as OMA's links work."""

from __future__ import annotations

import ipaddress
import secrets
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient, AiohttpServer
from structlog.testing import capture_logs

from gateway.app import GATEWAY, create_app
from gateway.downloads import LINK_LIFETIME, MAX_FILE, Downloads
from gateway.sandbox import ManualClock
from gateway.settings import RateSpec

from ..support import Client, bearer, caller, make_settings

FILE = b"date,logins\n2026-11,42\n" * 5000  # ~120 KB: streamed in several chunks
OMA_TOKEN = secrets.token_hex(16)


@pytest.fixture
async def oma_with_files(aiohttp_server: AiohttpServer) -> str:
    async def api(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method == "authenticate":
            return web.json_response({"success": True, "session_token": secrets.token_hex(8)})
        base = f"http://{request.host}/api/oma_file/get"
        link = f"{base}?type=domain&object=demo.example&user=admin%40demo.adm&token={OMA_TOKEN}"
        key = "snapshot" if method == "stats_snapshot" else "trace"
        return web.json_response({"success": True, key: link})

    async def oma_file(request: web.Request) -> web.Response:
        if request.query.get("token") != OMA_TOKEN:
            return web.json_response({"success": False, "error_number": 1}, status=403)
        return web.Response(body=FILE, content_type="text/csv")

    app = web.Application()
    app.router.add_get("/api/oma_file/get", oma_file)
    app.router.add_post("/api/{method}", api)
    server = await aiohttp_server(app)
    return str(server.make_url("/api"))


@pytest.fixture
async def gw(aiohttp_client: AiohttpClient, oma_with_files: str) -> Client:
    callers = {"billing": caller("billing"), "support": caller("support")}
    return await aiohttp_client(create_app(make_settings(oma_with_files, callers)))


async def snapshot_link(gw: Client, name: str = "billing") -> str:
    body = {"type": "domain", "object": "demo.example", "date": "2026-11"}
    answer = await (await gw.post("/api/stats_snapshot", json=body, headers=bearer(name))).json()
    return str(answer["snapshot"])


@pytest.mark.parametrize(
    ("method", "field"), [("stats_snapshot", "snapshot"), ("migration_trace", "trace")]
)
async def test_the_link_is_the_gateways_and_streams_the_file_to_the_same_caller(
    gw: Client, method: str, field: str
) -> None:
    body: dict[str, Any] = {
        "type": "domain",
        "object": "demo.example",
        "date": "2026-11",
        "job": "j",
        "user": "a@demo.example",
    }
    answer = await (await gw.post(f"/api/{method}", json=body, headers=bearer("billing"))).json()
    link = answer[field]
    assert link.startswith(str(gw.make_url("/download/")))
    assert OMA_TOKEN not in link and "admin" not in link
    response = await gw.session.get(link, headers=bearer("billing"))  # the absolute URL as given
    assert response.status == 200 and await response.read() == FILE
    assert response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("trusted", "scheme"), [(("127.0.0.0/8",), "https"), ((), "http"), (("10.0.0.0/8",), "http")]
)
async def test_behind_a_trusted_tls_ingress_the_link_keeps_the_callers_https(
    aiohttp_client: AiohttpClient, oma_with_files: str, trusted: tuple[str, ...], scheme: str
) -> None:
    """The ingress terminated TLS and says so in X-Forwarded-Proto; the gateway's own socket is
    plain http. Only a trusted peer is believed: anyone else could send the header."""
    networks = tuple(ipaddress.ip_network(net) for net in trusted)
    gw = await aiohttp_client(create_app(make_settings(oma_with_files, trusted_proxies=networks)))
    body = {"type": "domain", "object": "demo.example", "date": "2026-11"}
    headers = {**bearer("support"), "X-Forwarded-Proto": "https"}
    answer = await (await gw.post("/api/stats_snapshot", json=body, headers=headers)).json()
    assert answer["snapshot"].startswith(f"{scheme}://{gw.host}:{gw.port}/download/omagw_dl_")


async def test_another_caller_or_no_credentials_gets_nothing(gw: Client) -> None:
    body = {"type": "domain", "object": "demo.example", "date": "2026-11"}
    link = (
        await (await gw.post("/api/stats_snapshot", json=body, headers=bearer("billing"))).json()
    )["snapshot"]
    other = await gw.session.get(link, headers=bearer("support"))
    assert other.status == 404 and (await other.json())["gateway_error"] == "not_found"
    anonymous = await gw.session.get(link)
    assert anonymous.status == 401
    made_up = await gw.get("/download/omagw_dl_" + "x" * 32, headers=bearer("billing"))
    assert made_up.status == 404


async def test_a_link_to_another_host_is_not_kept(
    aiohttp_client: AiohttpClient, aiohttp_server: AiohttpServer
) -> None:
    async def api(request: web.Request) -> web.Response:
        if request.match_info["method"] == "authenticate":
            return web.json_response({"success": True, "session_token": "t" * 16})
        return web.json_response(
            {"success": True, "snapshot": f"http://evil.invalid/x?token={OMA_TOKEN}"}
        )

    app = web.Application()
    app.router.add_post("/api/{method}", api)
    server = await aiohttp_server(app)
    gw = await aiohttp_client(create_app(make_settings(str(server.make_url("/api")))))
    body = {"type": "domain", "object": "demo.example", "date": "2026-11"}
    answer = await (
        await gw.post("/api/stats_snapshot", json=body, headers=bearer("support"))
    ).json()
    assert "/download/" not in answer["snapshot"] and OMA_TOKEN not in answer["snapshot"]


async def test_a_download_is_audited(gw: Client) -> None:
    link = await snapshot_link(gw)
    with capture_logs() as logs:
        fetched = await gw.session.get(link, headers=bearer("billing"))
        assert fetched.status == 200 and await fetched.read() == FILE
        refused = await gw.session.get(link, headers=bearer("support"))
        assert refused.status == 404
    served, other = [e for e in logs if e["event"] == "audit"]
    assert served["method"] == other["method"] == "download"
    assert (served["caller"], served["via"], served["status"]) == ("billing", "header_key", 200)
    assert served["request_id"] == fetched.headers["X-Request-ID"]
    assert served["result"] == "success" and served["gateway_error"] is None
    assert (other["caller"], other["status"], other["gateway_error"]) == (
        "support",
        404,
        "not_found",
    )
    assert OMA_TOKEN not in repr(logs)


async def test_a_download_counts_against_the_callers_limits(
    aiohttp_client: AiohttpClient, oma_with_files: str
) -> None:
    limited = caller("billing", rate_limit=RateSpec(rate=0.01, burst=2))
    gw = await aiohttp_client(create_app(make_settings(oma_with_files, {"billing": limited})))
    link = await snapshot_link(gw)  # the first of the two
    fetched = await gw.session.get(link, headers=bearer("billing"))
    assert fetched.status == 200 and fetched.headers["RateLimit"]
    limited_out = await gw.session.get(link, headers=bearer("billing"))
    assert limited_out.status == 429 and "Retry-After" in limited_out.headers
    assert (await limited_out.json())["gateway_error"] == "rate_limited"


async def test_a_link_stops_working_after_its_lifetime(gw: Client) -> None:
    clock = ManualClock(time.time())
    gateway = gw.app[GATEWAY]
    gateway.downloads = Downloads(gateway.store.caller_tokens, clock=clock)  # the same store
    link = await snapshot_link(gw)
    clock.advance(LINK_LIFETIME - 1)
    assert (await gw.session.get(link, headers=bearer("billing"))).status == 200
    clock.advance(2)  # 15 minutes and a second after OMA answered
    expired = await gw.session.get(link, headers=bearer("billing"))
    assert expired.status == 404 and (await expired.json())["gateway_error"] == "not_found"


async def oma_serving(aiohttp_server: AiohttpServer, file: web.StreamResponse) -> str:
    """An OMA whose download link serves `file` (a handler's response, made per request)."""

    async def api(request: web.Request) -> web.Response:
        if request.match_info["method"] == "authenticate":
            return web.json_response({"success": True, "session_token": secrets.token_hex(8)})
        link = f"http://{request.host}/api/oma_file/get?token={OMA_TOKEN}"
        return web.json_response({"success": True, "snapshot": link})

    async def oma_file(request: web.Request) -> web.StreamResponse:
        await file.prepare(request)
        chunk = b"x" * (1024 * 1024)
        for _ in range(MAX_FILE // len(chunk) + 1):  # one MiB past the bound
            await file.write(chunk)
        await file.write_eof()
        return file

    app = web.Application()
    app.router.add_get("/api/oma_file/get", oma_file)
    app.router.add_post("/api/{method}", api)
    return str((await aiohttp_server(app)).make_url("/api"))


async def test_a_file_that_declares_more_than_the_bound_is_refused_before_a_byte(
    aiohttp_client: AiohttpClient, aiohttp_server: AiohttpServer
) -> None:
    declared = web.StreamResponse(headers={"Content-Length": str(MAX_FILE + 1024 * 1024)})
    gw = await aiohttp_client(
        create_app(make_settings(await oma_serving(aiohttp_server, declared)))
    )
    link = await snapshot_link(gw, "support")
    with capture_logs() as logs:
        fetched = await gw.session.get(link, headers=bearer("support"))
        assert fetched.status == 502
        assert (await fetched.json())["gateway_error"] == "upstream_unavailable"
    (record,) = [e for e in logs if e["event"] == "audit"]
    assert (record["method"], record["result"]) == ("download", "failed")


async def test_a_file_that_grows_past_the_bound_is_cut_visibly_and_audited_partial(
    aiohttp_client: AiohttpClient, aiohttp_server: AiohttpServer
) -> None:
    undeclared = web.StreamResponse()  # chunked: the size shows only as it arrives
    gw = await aiohttp_client(
        create_app(make_settings(await oma_serving(aiohttp_server, undeclared)))
    )
    link = await snapshot_link(gw, "support")
    received = 0
    with capture_logs() as logs:
        fetched = await gw.session.get(link, headers=bearer("support"))
        assert fetched.status == 200  # sent before the size was known
        with pytest.raises(aiohttp.ClientPayloadError):  # not a clean end: the file is short
            async for chunk in fetched.content.iter_chunked(1024 * 1024):
                received += len(chunk)
        fetched.close()
    assert received <= MAX_FILE
    (record,) = [e for e in logs if e["event"] == "audit"]
    assert (record["method"], record["status"], record["result"]) == ("download", 200, "partial")
