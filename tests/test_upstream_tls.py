"""The upstream client verifies OMA's certificate: the system store plus `ca_file`. Real TLS with
a CA and server certificates made here (cryptography), served by a real aiohttp upstream."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass, replace
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from prometheus_client import generate_latest
from pytest_aiohttp import AiohttpClient, AiohttpServer

from gateway.app import METRICS, create_app

from .auth.certs import CertAuthority
from .support import bearer, make_settings, upstream

BOB = {"user": "bob@demo.example"}


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path


def _write_pki(directory: Path, san: x509.GeneralName, ca_name: str = "test CA") -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca = CertAuthority(directory, ca_name)
    issued = ca.issue("oma", "oma", [san])
    return Pki(ca.cert_file, issued.cert, issued.key)


LOOPBACK = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))


async def _tls_oma(aiohttp_server: AiohttpServer, pki: Pki) -> TestServer:
    async def answer(request: web.Request) -> web.Response:
        if request.match_info["method"] == "authenticate":
            return web.json_response({"success": True, "session_token": "tls-token"})
        return web.json_response({"success": True, "attributes": {}})

    app = web.Application()
    app.router.add_post("/api/{method}", answer)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    return await aiohttp_server(app, ssl=context)


async def _call(aiohttp_client: AiohttpClient, url: str, ca_file: Path | None) -> tuple[int, str]:
    ca = None if ca_file is None else str(ca_file)
    settings = replace(make_settings(url), upstreams={"oma": upstream(url, ca_file=ca)})
    gw = await aiohttp_client(create_app(settings))
    response = await gw.post("/api/get_user", json=BOB, headers=bearer("billing"))
    text = generate_latest(gw.app[METRICS].registry).decode()
    tls = [r for r in text.splitlines() if r.startswith("oma_gateway_upstream_failures_total")]
    tls_failures = sum(float(r.split()[-1]) for r in tls if 'cause="tls"' in r)
    return response.status, "tls" if tls_failures else "none"


async def test_an_upstream_signed_by_ca_file_is_trusted(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    pki = _write_pki(tmp_path, LOOPBACK)
    server = await _tls_oma(aiohttp_server, pki)
    url = str(server.make_url("/api"))
    assert url.startswith("https://127.0.0.1:")
    assert await _call(aiohttp_client, url, pki.ca_file) == (200, "none")


async def test_without_ca_file_an_unknown_ca_is_refused_as_tls(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    pki = _write_pki(tmp_path, LOOPBACK)
    server = await _tls_oma(aiohttp_server, pki)
    assert await _call(aiohttp_client, str(server.make_url("/api")), None) == (502, "tls")


async def test_a_certificate_for_another_host_is_refused_as_tls(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    pki = _write_pki(tmp_path, x509.DNSName("admin.elsewhere.example"))
    server = await _tls_oma(aiohttp_server, pki)
    status = await _call(aiohttp_client, str(server.make_url("/api")), pki.ca_file)
    assert status == (502, "tls")


async def test_ca_file_of_another_ca_does_not_trust_the_upstream(
    aiohttp_server: AiohttpServer, aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    served = _write_pki(tmp_path / "a", LOOPBACK)
    unrelated = _write_pki(tmp_path / "b", LOOPBACK, ca_name="another CA")
    server = await _tls_oma(aiohttp_server, served)
    status = await _call(aiohttp_client, str(server.make_url("/api")), unrelated.ca_file)
    assert status == (502, "tls")
