"""The guarded site in-process: plain and TLS connections go through the guard's deadline and
cap (the TLS case with a certificate made here), and the body hooks of `read_object`."""

from __future__ import annotations

import asyncio
import selectors
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from gateway.app import read_object
from gateway.connections import CONNECTIONS, ConnectionGuard, GuardedSite, raise_fd_limit

from ..auth.certs import CertAuthority, dns
from ..support import free_port


async def _echo(request: web.Request) -> web.Response:
    return web.json_response(await read_object(request, 1024))


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[int, ssl.SSLContext, ConnectionGuard]]:
    ca = CertAuthority(tmp_path)
    server = ca.issue("server", "localhost", [dns("localhost")])
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(server.cert, server.key)
    client_tls = ssl.create_default_context(cafile=str(ca.cert_file))
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


async def test_a_burst_of_a_thousand_connects_is_queued_by_the_kernel_not_dropped() -> None:
    """With aiohttp's backlog of 128, a burst beyond it (callers reconnecting after a rolling
    update) had its SYNs dropped and retried seconds later. Here the loop is held while a
    thousand sockets connect: the kernel must complete every handshake into the accept queue."""
    raise_fd_limit()
    guard = ConnectionGuard(client_timeout=5, max_connections=4096)
    app = web.Application()
    app[CONNECTIONS] = guard
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await GuardedSite(runner, guard, "127.0.0.1", port).start()
    sockets = [socket.socket() for _ in range(1000)]
    try:
        for sock in sockets:
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
        # The event loop does not run in here: nothing is accepted, only queued.
        pending = set(sockets)
        with selectors.DefaultSelector() as selector:
            for sock in sockets:
                selector.register(sock, selectors.EVENT_WRITE)
            for _ in range(20):
                for key, _ in selector.select(0.05):
                    ready = key.fileobj
                    assert isinstance(ready, socket.socket)
                    selector.unregister(ready)
                    if ready.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                        pending.discard(ready)
                if not pending:
                    break
        assert not pending, f"{len(pending)} of 1000 connects not completed within a second"
    finally:
        for sock in sockets:
            sock.close()
        await runner.cleanup()
