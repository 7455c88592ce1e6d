"""A hostile upstream: redirects, huge answers, compressed bombs, slow drips, pages that are not
OMA's JSON. Each answer is the contract's envelope, nothing is resent anywhere, memory stays
bounded, and the cause shows in the log line and in a bounded metric label."""

from __future__ import annotations

import asyncio
import socket
import struct
import tracemalloc
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import generate_latest
from pytest_aiohttp import AiohttpClient, AiohttpServer
from structlog.testing import capture_logs

from gateway.app import GATEWAY, METRICS, create_app
from gateway.settings import Settings

from .support import Client, bearer, make_settings, upstream

BOB = {"user": "bob@demo.example"}
MiB = 1024 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Upstream:
    """A scripted OMA: logins work; `get_user` answers whatever the test sets."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.get_user: Handler = _ok
        self.login: Handler = _login

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/{method}", self._route)
        return app

    async def _route(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        self.seen[method] += 1
        return await (self.login if method == "authenticate" else self.get_user)(request)


async def _ok(request: web.Request) -> web.StreamResponse:
    return web.json_response({"success": True, "attributes": {}})


async def _login(request: web.Request) -> web.StreamResponse:
    token = {"success": True, "session_token": "tok-1", "session_token_duration": 3600}
    return web.json_response(token)


@pytest.fixture
def scripted() -> Upstream:
    return Upstream()


@pytest.fixture
async def scripted_server(aiohttp_server: AiohttpServer, scripted: Upstream) -> TestServer:
    return await aiohttp_server(scripted.app())


def _settings(server: TestServer, **overrides: object) -> Settings:
    settings = make_settings(str(server.make_url("/api")))
    oma = replace(upstream(str(server.make_url("/api"))), **overrides)  # type: ignore[arg-type]
    return replace(settings, upstreams={"oma": oma})


async def _gateway(
    aiohttp_client: AiohttpClient, server: TestServer, **overrides: object
) -> Client:
    gw = await aiohttp_client(create_app(_settings(server, **overrides)))
    await gw.app[GATEWAY].custodies["oma"].current()  # the login lands before the attack
    return gw


async def _refusal(gw: Client) -> tuple[int, str]:
    response = await gw.post("/api/get_user", json=BOB, headers=bearer("billing"))
    return response.status, (await response.json())["gateway_error"]


def _failures(gw: Client, cause: str) -> float:
    text = generate_latest(gw.app[METRICS].registry).decode()
    line = f'oma_gateway_upstream_failures_total{{cause="{cause}",upstream="oma"}}'
    return float(next(row for row in text.splitlines() if row.startswith(line)).split()[-1])


@pytest.fixture
async def recorder(aiohttp_server: AiohttpServer) -> tuple[TestServer, list[bytes]]:
    """Another loopback host that a redirect points to; it records whatever reaches it."""
    received: list[bytes] = []

    async def record(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.json_response({"success": True, "session_token": "stolen"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    return await aiohttp_server(app), received


async def test_a_redirect_is_never_followed_and_nothing_is_resent(
    aiohttp_client: AiohttpClient,
    scripted: Upstream,
    scripted_server: TestServer,
    recorder: tuple[TestServer, list[bytes]],
) -> None:
    elsewhere, received = recorder

    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect(str(elsewhere.make_url("/api/get_user")))

    scripted.get_user = redirect
    gw = await _gateway(aiohttp_client, scripted_server)
    with capture_logs() as logs:
        assert await _refusal(gw) == (502, "upstream_unavailable")
    assert received == []  # neither the body nor its session token went to Location's host
    assert scripted.seen == Counter({"authenticate": 1, "get_user": 1})  # no stale-token resend
    failed = [e for e in logs if e["event"] == "upstream_failed"]
    assert [e["cause"] for e in failed] == ["redirect"]
    assert _failures(gw, "redirect") == 1


async def test_a_redirected_login_sends_the_password_nowhere_else(
    aiohttp_client: AiohttpClient,
    scripted: Upstream,
    scripted_server: TestServer,
    recorder: tuple[TestServer, list[bytes]],
) -> None:
    elsewhere, received = recorder

    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPPermanentRedirect(str(elsewhere.make_url("/api/authenticate")))

    scripted.login = redirect
    gw = await aiohttp_client(create_app(_settings(scripted_server)))
    assert await _refusal(gw) == (502, "upstream_unavailable")
    assert received == []


async def test_an_answer_over_max_answer_is_refused_without_reading_it_all(
    aiohttp_client: AiohttpClient, scripted: Upstream, scripted_server: TestServer
) -> None:
    sent = 0

    async def huge(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            await response.write(b'{"success": true, "x": "')
            for _ in range(64):  # 64 MiB offered, no Content-Length (chunked)
                await response.write(b"a" * MiB)
                sent += 1
        except (ConnectionResetError, OSError):
            pass  # the gateway hung up: exactly what it should do
        return response

    scripted.get_user = huge
    gw = await _gateway(aiohttp_client, scripted_server, max_answer=2 * MiB)
    assert await _refusal(gw) == (502, "upstream_unavailable")
    assert _failures(gw, "too_large") == 1
    await asyncio.sleep(0.2)
    assert sent < 64


async def test_a_declared_content_length_over_max_answer_is_refused_before_reading(
    aiohttp_client: AiohttpClient, scripted: Upstream, scripted_server: TestServer
) -> None:
    async def big(request: web.Request) -> web.StreamResponse:
        return web.json_response({"success": True, "x": "a" * (3 * MiB)})

    scripted.get_user = big
    gw = await _gateway(aiohttp_client, scripted_server, max_answer=MiB)
    assert await _refusal(gw) == (502, "upstream_unavailable")
    assert _failures(gw, "too_large") == 1


def _gzip_bomb(decoded_mib: int) -> bytes:
    """A gzip stream that inflates to a JSON answer of `decoded_mib` MiB (made piece by piece,
    so the test itself never holds the inflated answer)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(b'{"success": true, "x": "')]
    zeros = b"0" * MiB
    parts += [packer.compress(zeros) for _ in range(decoded_mib)]
    parts.append(packer.compress(b'"}') + packer.flush())
    return b"".join(parts)


async def test_a_compressed_bomb_is_bounded_by_max_answer_after_decompression(
    aiohttp_client: AiohttpClient, scripted: Upstream, scripted_server: TestServer
) -> None:
    bomb = _gzip_bomb(300)  # ~300 KiB on the wire, 300 MiB inflated
    assert len(bomb) < 2 * MiB

    async def compressed(request: web.Request) -> web.StreamResponse:
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        return web.Response(body=bomb, headers=headers)

    scripted.get_user = compressed
    gw = await _gateway(aiohttp_client, scripted_server)  # the default max_answer: 32 MiB
    tracemalloc.start()
    try:
        status = await _refusal(gw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == (502, "upstream_unavailable")
    assert _failures(gw, "too_large") == 1
    assert peak < 80 * MiB, f"peak {peak / MiB:.0f} MiB while refusing a 300 MiB bomb"


async def test_a_slow_drip_answer_times_out_as_504(
    aiohttp_client: AiohttpClient, scripted: Upstream, scripted_server: TestServer
) -> None:
    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            for byte in b'{"success": true, "padding": "................"}':
                await response.write(bytes([byte]))
                await asyncio.sleep(0.05)
        except (ConnectionResetError, OSError):
            pass
        return response

    scripted.get_user = drip
    gw = await _gateway(aiohttp_client, scripted_server, timeout=0.5)
    assert await _refusal(gw) == (504, "upstream_timeout")
    assert _failures(gw, "timeout") == 1


@pytest.mark.parametrize(
    ("status", "cause"), [(200, "not_json"), (503, "http_status"), (502, "http_status")]
)
async def test_a_page_that_is_not_omas_json_names_its_cause(
    aiohttp_client: AiohttpClient,
    scripted: Upstream,
    scripted_server: TestServer,
    status: int,
    cause: str,
) -> None:
    async def page(request: web.Request) -> web.StreamResponse:
        return web.Response(
            status=status, text="<html>proxy says hi</html>", content_type="text/html"
        )

    scripted.get_user = page
    gw = await _gateway(aiohttp_client, scripted_server)
    with capture_logs() as logs:
        assert await _refusal(gw) == (502, "upstream_unavailable")
    assert [e["cause"] for e in logs if e["event"] == "upstream_failed"] == [cause]
    assert _failures(gw, cause) == 1


async def test_every_cause_is_exported_from_zero(
    aiohttp_client: AiohttpClient, scripted_server: TestServer
) -> None:
    gw = await _gateway(aiohttp_client, scripted_server)
    for cause in ("tls", "dns", "refused", "reset", "timeout", "redirect", "too_large"):
        assert _failures(gw, cause) == 0


def _abort_with_a_reset(request: web.Request) -> None:
    transport = request.transport
    assert transport is not None
    # Linger 0 turns the close into a TCP RST: what a crashed upstream or a middlebox sends.
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _reset_before_answering(request: web.Request) -> web.StreamResponse:
    _abort_with_a_reset(request)
    return web.Response()  # never sent: the connection is gone


async def _reset_mid_answer(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = 4096
    await response.prepare(request)
    await response.write(b'{"success": true, "attributes": {"name": "')
    await asyncio.sleep(0.05)  # the headers and the first bytes reach the gateway first
    _abort_with_a_reset(request)
    return response


@pytest.mark.parametrize("handler", [_reset_before_answering, _reset_mid_answer])
async def test_a_connection_reset_names_reset_in_the_log_line_and_the_metric(
    aiohttp_client: AiohttpClient, scripted: Upstream, scripted_server: TestServer, handler: Handler
) -> None:
    scripted.get_user = handler
    gw = await _gateway(aiohttp_client, scripted_server)
    with capture_logs() as logs:
        assert await _refusal(gw) == (502, "upstream_unavailable")
    assert [e["cause"] for e in logs if e["event"] == "upstream_failed"] == ["reset"]
    assert _failures(gw, "reset") == 1 and _failures(gw, "other") == 0


async def test_a_host_name_that_does_not_resolve_names_dns_in_the_log_line_and_the_metric(
    aiohttp_client: AiohttpClient,
) -> None:
    url = "http://oma-gateway-test.invalid/api"  # .invalid never resolves (RFC 6761)
    settings = make_settings(url)
    oma = replace(upstream(url), insecure_http=True)
    gw = await aiohttp_client(create_app(replace(settings, upstreams={"oma": oma})))
    with capture_logs() as logs:
        assert await _refusal(gw) == (502, "upstream_unavailable")
    # The call's login and, when the resolver is slow, the refresher's may each fail: every
    # failure is named dns, none anything else.
    failed = [e["cause"] for e in logs if e["event"] == "upstream_failed"]
    logins = [e["cause"] for e in logs if e["event"] == "oma_login_failed"]
    assert failed and set(failed) == {"dns"} and logins and set(logins) == {"dns"}
    assert _failures(gw, "dns") >= len(failed) and _failures(gw, "other") == 0


async def test_a_refused_port_is_counted_as_refused(aiohttp_client: AiohttpClient) -> None:
    from .support import free_port

    gw = await aiohttp_client(create_app(make_settings(f"http://127.0.0.1:{free_port()}/api")))
    assert await _refusal(gw) == (502, "upstream_unavailable")
    assert _failures(gw, "refused") >= 1
