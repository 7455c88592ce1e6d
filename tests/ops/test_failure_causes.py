"""Upstream failures told apart through a real `oma-gateway serve`: one gateway, one upstream per
way of failing, each warm-up login's failure logged and counted with its own cause. Before,
every one of them logged only `upstream_unavailable`, and a non-JSON 404 during login (a URL
without `/api`, a proxy's page) counted as a rejected password and paged OmaLoginRejected."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import aiohttp
from aiohttp import web

from ..auth.certs import CertAuthority, dns
from ..support import bearer, free_port
from .procs import Ports, gateway_process, samples, sandbox_process, wait_ready, write_config
from .procs import config as base_config


def answering(status: int, text: str) -> web.Application:
    """An HTTP server that is not OMA: every POST gets `status` with an HTML page."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(status=status, text=text, content_type="text/html")

    app = web.Application()
    app.router.add_post("/{tail:.*}", page)
    return app


@asynccontextmanager
async def serving(app: web.Application, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


def server_tls(ca: CertAuthority, stem: str, name: str | None = None) -> ssl.SSLContext:
    issued = ca.server(stem) if name is None else ca.issue(stem, name, [dns(name)])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(issued.cert), str(issued.key))
    return context


async def test_each_way_an_upstream_fails_is_logged_and_counted_with_its_own_cause(
    tmp_path: Path,
) -> None:
    trusted = CertAuthority(tmp_path, "trusted CA")
    (tmp_path / "unknown").mkdir()
    unknown = CertAuthority(tmp_path / "unknown", "a CA nobody trusts")
    async with AsyncExitStack() as stack:
        enter = stack.enter_async_context
        unknown_ca = await enter(serving(answering(200, "{}"), server_tls(unknown, "u")))
        wrong_name = await enter(
            serving(answering(200, "{}"), server_tls(trusted, "w", "other.example"))
        )
        error_page = await enter(serving(answering(503, "<h1>Service Unavailable</h1>")))
        proxy_page = await enter(serving(answering(200, "<html>sign in to the proxy</html>")))
        no_api = await enter(serving(answering(404, "Not Found")))
        urls = {
            "dns": ("https://oma.invalid/api", "dns"),
            "refused": (f"http://127.0.0.1:{free_port()}/api", "refused"),  # bound, released
            "unknown_ca": (f"https://127.0.0.1:{unknown_ca}/api", "tls"),
            "wrong_name": (f"https://127.0.0.1:{wrong_name}/api", "tls"),
            "error_page": (f"http://127.0.0.1:{error_page}/api", "http_status"),
            "proxy_page": (f"http://127.0.0.1:{proxy_page}/api", "not_json"),
            "no_api": (f"http://127.0.0.1:{no_api}/api", "http_status"),  # not "rejected"
        }
        ports = Ports()
        document = base_config(urls["dns"][0], ports, {"billing": ["billing"]}, timeout="2s")
        template = document["upstreams"].pop("oma")
        document["upstreams"] = {name: {**template, "url": url} for name, (url, _) in urls.items()}
        document["upstreams"]["wrong_name"]["ca_file"] = str(trusted.cert_file)
        document["callers"]["billing"]["upstream"] = "dns"
        path = write_config(tmp_path / "gateway.yaml", document)
        with gateway_process("serve", "--config", str(path)) as gw:
            await asyncio.to_thread(gw.wait_for, "gateway_listening", 1, 20)
            for name in urls:  # each upstream's warm-up login, failed
                await asyncio.to_thread(gw.wait_for, f'"upstream":"{name}"', 1, 20)
            await asyncio.to_thread(gw.wait_for, '"event":"oma_login_failed"', len(urls), 20)
            counted = await samples(ports.admin_url)
            lines = [json.loads(line) for line in list(gw.lines) if line.startswith("{")]
    logged = {
        line["upstream"]: line["cause"] for line in lines if line["event"] == "oma_login_failed"
    }
    assert logged == {name: cause for name, (_, cause) in urls.items()}
    assert not [line for line in lines if line["event"] == "oma_login_rejected"], (
        "no failure here is OMA refusing the password"
    )
    for name, (_, cause) in urls.items():
        key = ("oma_gateway_upstream_failures_total", (("cause", cause), ("upstream", name)))
        assert counted.get(key, 0) >= 1, (name, cause)


async def test_omas_own_non_json_404_is_upstream_rejected_to_the_caller_and_in_the_audit(
    tmp_path: Path,
) -> None:
    """The sandbox answers a method it does not know as OMA may: 404 with plain text. The caller
    gets OMA's meaning in the envelope (`upstream_rejected`), and the audit record says the same
    code (it said null before)."""
    ports = Ports()
    with sandbox_process() as oma_url:
        document = base_config(oma_url, ports, {"support": ["support"]})
        path = write_config(tmp_path / "gateway.yaml", document)
        with gateway_process("serve", "--config", str(path)) as gw:
            await asyncio.to_thread(wait_ready, ports.admin_url)
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    f"{ports.url}/api/get_nothing_at_all", json={},
                    headers={**bearer("support"), "X-Request-ID": "unknown-method-1"},
                ) as answer,
            ):  # fmt: skip
                status, body = answer.status, await answer.json()
            await asyncio.to_thread(gw.wait_for, '"request_id":"unknown-method-1"')
            lines = [json.loads(line) for line in list(gw.lines) if line.startswith("{")]
    assert status == 404 and body["gateway_error"] == "upstream_rejected"
    (record,) = [x for x in lines if x.get("event") == "audit"]
    assert (record["method"], record["status"]) == ("get_nothing_at_all", 404)
    assert record["gateway_error"] == "upstream_rejected"
