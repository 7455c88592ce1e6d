"""The hot path's upstream client against raw HTTP servers that answer exactly as scripted:
keep-alive and `Connection: close`, content-length and chunked answers, interim 1xx, compressed
answers nobody asked for, resets, timeouts, idle connections the server closed, the connection
cap, and a run on uvloop (the gateway's loop)."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import uvloop

from gateway.errors import UpstreamError
from gateway.oma_http import Pool

OK = b'{"success":true}'
Script = Callable[[bytes], Awaitable[bytes | None]]  # request -> raw answer (None: hang up)


def answer(body: bytes = OK, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def always(raw: bytes) -> Script:
    async def script(request: bytes) -> bytes:
        return raw

    return script


class Scripted:
    """An HTTP/1.1 server on loopback: each request gets its script's answer; connections are
    counted, and the server side of every open connection can be dropped at will."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = self.open = self.peak_open = 0
        self.requests: list[bytes] = []
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/api"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.peak_open = max(self.peak_open, self.open)
        self.writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                self.requests.append(head + await reader.readexactly(length))
                raw = await self.script(self.requests[-1])
                if raw is None:
                    writer.transport.abort()
                    break
                writer.write(raw)
                await writer.drain()
                if b"connection: close" in raw.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            self.writers.discard(writer)
            writer.close()

    def drop_all(self) -> None:
        for writer in list(self.writers):
            writer.transport.abort()


Serve = Callable[..., Awaitable[tuple[Scripted, Pool]]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    made: list[tuple[Scripted, Pool]] = []

    async def start(
        script: Script,
        limit: int = 8,
        timeout: float = 5.0,  # noqa: ASYNC109 - the pool's setting, not this call's
        max_answer: int = 1024,
    ) -> tuple[Scripted, Pool]:
        server = Scripted(script)
        url = await server.start()
        made.append((server, Pool(url, limit=limit, timeout=timeout, max_answer=max_answer)))
        return made[-1]

    yield start
    for server, pool in made:
        await pool.close()
        assert server.server is not None
        server.server.close()


async def test_sequential_calls_share_one_keep_alive_connection(serve: Serve) -> None:
    server, pool = await serve(always(answer()))

    answers = [await pool.post("get_user", b'{"user":"a"}') for _ in range(5)]

    assert answers == [(200, OK)] * 5
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /api/get_user HTTP/1.1\r\n")
    assert b"Content-Type: application/json\r\n" in first and first.endswith(b'{"user":"a"}')
    assert b"accept-encoding" not in first.lower()  # OMA is not asked to compress


async def test_connection_close_is_honoured_with_a_new_connection_next_time(
    serve: Serve,
) -> None:
    server, pool = await serve(always(answer(extra=b"Connection: close\r\n")))

    assert [await pool.post("get_user", b"{}") for _ in range(3)] == [(200, OK)] * 3
    assert server.connections == 3


async def test_a_chunked_answer_is_read_whole_and_the_connection_kept(serve: Serve) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"suc\r\nb\r\ncess":true}\r\n0\r\n\r\n'
    )
    server, pool = await serve(always(chunked))

    assert [await pool.post("get_user", b"{}") for _ in range(2)] == [(200, OK)] * 2
    assert server.connections == 1


async def test_an_interim_100_continue_is_skipped(serve: Serve) -> None:
    _, pool = await serve(always(b"HTTP/1.1 100 Continue\r\n\r\n" + answer()))

    assert await pool.post("get_user", b"{}") == (200, OK)


async def test_a_gzip_answer_sent_unasked_is_decoded_and_bounded(serve: Serve) -> None:
    packed = gzip.compress(OK)
    _, pool = await serve(always(answer(packed, b"Content-Encoding: gzip\r\n")))
    assert await pool.post("get_user", b"{}") == (200, OK)

    bomb = gzip.compress(b" " * 10_000)  # small on the wire, ten times max_answer decoded
    _, bounded = await serve(always(answer(bomb, b"Content-Encoding: gzip\r\n")))
    with pytest.raises(UpstreamError) as refused:
        await bounded.post("get_user", b"{}")
    assert refused.value.cause == "too_large"


async def test_a_connection_cut_before_the_whole_answer_is_a_reset(serve: Serve) -> None:
    async def cut(request: bytes) -> None:
        return None  # the server aborts the connection without an answer

    server, pool = await serve(cut)

    with pytest.raises(ConnectionResetError):
        await pool.post("get_user", b"{}")
    assert pool.idle == 0
    # The next call gets a fresh connection (and here, the same fate).
    with pytest.raises(ConnectionResetError):
        await pool.post("get_user", b"{}")
    assert server.connections == 2


async def test_an_answer_later_than_the_timeout_fails_and_its_connection_is_not_reused(
    serve: Serve,
) -> None:
    late = [True]

    async def slow_once(request: bytes) -> bytes:
        if late.pop() if late else False:
            await asyncio.sleep(0.5)  # past the pool's timeout: this answer must go nowhere
        return answer()

    server, pool = await serve(slow_once, timeout=0.2)

    with pytest.raises(TimeoutError):
        await pool.post("get_user", b"{}")
    assert pool.idle == 0
    assert await pool.post("get_user", b"{}") == (200, OK)  # on a new connection
    assert server.connections == 2


async def test_an_idle_connection_the_server_dropped_is_not_reused(serve: Serve) -> None:
    server, pool = await serve(always(answer()))
    assert await pool.post("get_user", b"{}") == (200, OK)

    server.drop_all()  # the server's keep-alive ran out while the connection sat idle
    await asyncio.sleep(0.05)

    assert await pool.post("get_user", b"{}") == (200, OK)
    assert server.connections == 2


async def test_calls_beyond_the_limit_wait_for_a_connection_none_is_refused(
    serve: Serve,
) -> None:
    gate = asyncio.Event()

    async def held(request: bytes) -> bytes:
        await gate.wait()
        return answer()

    server, pool = await serve(held, limit=3)
    calls = [asyncio.create_task(pool.post("get_user", b"{}")) for _ in range(10)]
    await asyncio.sleep(0.2)
    assert server.open == 3  # seven calls wait in the gateway for one of the three

    gate.set()
    assert await asyncio.gather(*calls) == [(200, OK)] * 10
    assert server.peak_open == 3


def test_the_pool_runs_on_uvloop_as_the_gateway_does() -> None:
    async def main() -> list[tuple[int, bytes]]:
        server = Scripted(always(answer()))
        url = await server.start()
        pool = Pool(url, limit=2, timeout=5.0, max_answer=1024)
        try:
            return [await pool.post("get_user", b"{}") for _ in range(3)]
        finally:
            await pool.close()
            assert server.server is not None
            server.server.close()

    assert uvloop.run(main()) == [(200, OK)] * 3


async def test_a_wait_for_a_connection_slot_is_bounded_by_the_timeout(serve: Serve) -> None:
    gate = asyncio.Event()

    async def held(request: bytes) -> bytes:
        await gate.wait()
        return answer()

    _, pool = await serve(held, limit=1, timeout=0.3)
    first = asyncio.create_task(pool.post("get_user", b"{}"))
    await asyncio.sleep(0.05)

    with pytest.raises(TimeoutError):  # the one slot stays taken past this call's deadline
        await pool.post("get_user", b"{}")
    with pytest.raises(TimeoutError):
        await first
    gate.set()


async def test_a_connect_that_never_completes_is_bounded_by_the_timeout() -> None:
    # A listener that never accepts, its queue filled: the kernel drops further SYNs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    pool = Pool(f"http://127.0.0.1:{port}/api", limit=2, timeout=0.3, max_answer=1024)
    try:
        with pytest.raises(TimeoutError):
            await pool.post("get_user", b"{}")
    finally:
        await pool.close()
        for filler in fillers:
            filler.close()
        listener.close()
