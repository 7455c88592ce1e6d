"""The guarded site in-process: plain and TLS connections go through the guard's deadline and
cap (the TLS case with a certificate made here), and the body hooks of `read_object`."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.app import read_object
from gateway.connections import CONNECTIONS, ConnectionGuard, GuardedSite

from ..support import free_port


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def _echo(request: web.Request) -> web.Response:
    return web.json_response(await read_object(request, 1024))


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[int, ssl.SSLContext, ConnectionGuard]]:
    cert, key = _certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))
    guard = ConnectionGuard(client_timeout=0.5, max_connections=8)
    app = web.Application()
    app[CONNECTIONS] = guard
    app.router.add_post("/echo", _echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await GuardedSite(runner, guard, "127.0.0.1", port, ssl_context=server_tls).start()
    yield port, client_tls, guard
    await runner.cleanup()


async def test_a_tls_call_is_served_through_the_guard(
    served: tuple[int, ssl.SSLContext, ConnectionGuard],
) -> None:
    port, tls, guard = served
    async with aiohttp.ClientSession() as session:
        url = f"https://localhost:{port}/echo"
        async with session.post(url, json={"a": 1}, ssl=tls) as answer:
            assert answer.status == 200 and await answer.json() == {"a": 1}
        assert guard.open == 1
        await asyncio.sleep(0.8)  # past client_timeout: a kept-alive connection is idle, not late
        async with session.post(url, json={"b": 2}, ssl=tls) as answer:
            assert await answer.json() == {"b": 2}


async def test_a_silent_tls_connection_is_closed_at_client_timeout(
    served: tuple[int, ssl.SSLContext, ConnectionGuard],
) -> None:
    port, tls, guard = served
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=tls, server_hostname="localhost"
    )
    start = asyncio.get_running_loop().time()
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError, ssl.SSLError)):
        await asyncio.wait_for(reader.readexactly(1), 3)
    assert asyncio.get_running_loop().time() - start < 1.5
    writer.close()
    await asyncio.sleep(0.05)
    assert guard.open == 0
