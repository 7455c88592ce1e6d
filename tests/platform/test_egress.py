"""Egress: OMA reached through a real HTTP CONNECT proxy (run here on loopback), over real TLS
with a CA made in the test; by `upstreams.NAME.proxy` and by HTTPS_PROXY with `trust_env`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import signal
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from gateway.app import create_app
from gateway.sandbox import Sandbox, create_sandbox_app

from ..ops.procs import Ports, config, gateway_process, wait_ready, write_config
from ..support import KEYS, bearer, make_settings
from .certs import Pki, make_pki


class ConnectProxy:
    """A minimal CONNECT proxy: tunnels to loopback targets only, remembers what it tunnelled."""

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        verb, target, _ = head.split("\r\n")[0].split(" ", 2)
        host, _, port = target.rpartition(":")
        if verb != "CONNECT" or host not in ("127.0.0.1", "localhost"):
            writer.write(b"HTTP/1.1 403 Forbidden\r\n\r\n")
            writer.close()
            return
        self.tunnels.append(target)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await asyncio.wait_for(reader.read(65536), 30):
            writer.write(data)
            await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def proxy_and_tls_oma(tmp_path: Path) -> AsyncIterator[tuple[ConnectProxy, str, Pki]]:
    pki = make_pki(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    runner = web.AppRunner(create_sandbox_app(Sandbox()), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    oma_port = runner.addresses[0][1]
    proxy = ConnectProxy()
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    proxy.port = server.sockets[0].getsockname()[1]
    try:
        yield proxy, f"https://127.0.0.1:{oma_port}/api", pki
    finally:
        server.close()
        await runner.cleanup()


async def test_an_upstream_proxy_carries_oma_traffic_through_connect(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    async with proxy_and_tls_oma(tmp_path) as (proxy, oma_url, pki):
        settings = make_settings(oma_url)
        upstream = dataclasses.replace(settings.upstreams["oma"],
                                       proxy=f"http://127.0.0.1:{proxy.port}",
                                       ca_file=str(pki.ca_file))  # fmt: skip
        gw = await aiohttp_client(
            create_app(dataclasses.replace(settings, upstreams={"oma": upstream}))
        )
        answer = await gw.post("/api/get_user", json={"user": "alice@demo.example"},
                               headers=bearer("billing"))  # fmt: skip
        assert answer.status == 200 and (await answer.json())["success"] is True
        assert proxy.tunnels and set(proxy.tunnels) == {oma_url.split("/")[2]}


async def test_without_the_ca_file_the_test_cas_upstream_is_not_trusted(
    aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    async with proxy_and_tls_oma(tmp_path) as (proxy, oma_url, _):
        settings = make_settings(oma_url)
        upstream = dataclasses.replace(
            settings.upstreams["oma"], proxy=f"http://127.0.0.1:{proxy.port}"
        )
        gw = await aiohttp_client(
            create_app(dataclasses.replace(settings, upstreams={"oma": upstream}))
        )
        answer = await gw.post("/api/get_user", json={"user": "alice@demo.example"},
                               headers=bearer("billing"))  # fmt: skip
        assert answer.status == 502


@pytest.mark.parametrize("way", ["trust_env", "proxy"])
async def test_the_proxy_setting_or_https_proxy_with_trust_env_in_a_real_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, way: str
) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    async with proxy_and_tls_oma(tmp_path) as (proxy, oma_url, pki):
        ports = Ports()
        document = config(oma_url, ports, {"billing": ["billing"]})
        proxy_url = f"http://127.0.0.1:{proxy.port}"
        upstream = document["upstreams"]["oma"]
        upstream["ca_file"] = str(pki.ca_file)
        if way == "trust_env":
            upstream["trust_env"] = True
        else:
            upstream["proxy"] = proxy_url
        path = write_config(tmp_path / "gw.yaml", document)
        env = {"HTTPS_PROXY": proxy_url} if way == "trust_env" else {}
        with gateway_process("serve", "--config", str(path), env=env) as gw:
            await asyncio.to_thread(wait_ready, ports.admin_url)
            async with aiohttp.ClientSession(trust_env=False) as session, session.post(
                f"{ports.url}/api/get_user", json={"user": "alice@demo.example"},
                headers={"Authorization": f"Bearer {KEYS['billing']}"},
            ) as answer:  # fmt: skip
                assert answer.status == 200, await answer.text()
            gw.signal(signal.SIGTERM)
            assert await asyncio.to_thread(gw.wait, 30) == 0
        assert proxy.tunnels, "\n".join(gw.lines)
        assert all(json.loads(line) for line in gw.lines if line.startswith("{"))
