"""The upstream client of the hot path: HTTP/1.1 keep-alive POSTs to one OMA origin.

Every call the gateway forwards is the same shape: a small JSON POST to `<url>/<method>` and a
small JSON answer. aiohttp's `ClientSession.post` is general (cookies, redirects, proxies,
per-request timeouts and tracing, a `ClientRequest` and `ClientResponse` per call) and was the
largest single cost of a call (a fifth of the event loop at saturation). This client does only
what OMA calls need, on llhttp (`httptools`, the parser aiohttp's and Node's C parsers are built
on): a request is one prebuilt head plus the body, written in one `write`; the answer is parsed
by callbacks straight into one buffer.

What an upstream may make it do is bounded as before: redirects are answered `redirect` and never
followed, an answer is read only up to `max_answer` bytes (after decompression, which is only
done because a server may compress unasked: no `Accept-Encoding` is sent), and the whole exchange,
the wait for a connection and the connect included, is bounded by the upstream's `timeout`. At
most `limit` connections are open at once; idle ones are reused last-in first-out and closed
after `IDLE` seconds. A connection is reused only after a whole answer that allows it.

A proxy (`proxy`, `trust_env`) is not spoken here: such upstreams keep the aiohttp session.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from typing import cast
from urllib.parse import urlsplit

import httptools

from .failures import failure

__all__ = ["IDLE", "Pool"]

IDLE = 15.0  # seconds an idle connection is kept (aiohttp's default keep-alive as well)
_SWEEP = 1.0  # at most this often, idle connections past IDLE are closed
_END = b"\r\n\r\n"  # of the last header line, and of the head
_METHOD_HEADS = 512  # prebuilt request heads kept (methods are allowlisted: a few dozen in use)


class _Exchange(asyncio.Protocol):
    """One connection: sends a request, parses its answer, says whether it can be reused."""

    def __init__(self, max_answer: int) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.max_answer = max_answer
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False
        self.idle_since = 0.0
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.body = bytearray()
        self.encoding = b""
        self.done = self.keep_alive = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's do not subclass it

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():  # nothing asked: a server talking out of turn
            self.abort()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail(failure("other", "OMA upstream's answer is not valid HTTP"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            reset = ConnectionResetError("connection closed before a whole answer came")
            self.waiter.set_exception(reset)

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        if lower == b"content-encoding":
            self.encoding = value.strip().lower()
        elif lower == b"content-length" and _longer_than(value, self.max_answer):
            self._fail(_too_large())

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if 300 <= self.status < 400:
            message = "OMA upstream answered with a redirect, which is not followed"
            self._fail(failure("redirect", message))

    def on_body(self, body: bytes) -> None:
        self.body += body
        if len(self.body) > self.max_answer:
            self._fail(_too_large())

    def on_message_complete(self) -> None:
        if self.status < 200:  # an interim 1xx: the answer follows
            self._reset()
            return
        self.done = True
        self.keep_alive = self.parser.should_keep_alive()  # only valid inside the callback
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            try:
                answer = _decoded(self.body, self.encoding, self.max_answer)
            except Exception as exc:  # an undecodable answer fails this call only
                waiter.set_exception(exc)
            else:
                waiter.set_result((self.status, answer))

    # the pool's side

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self._reset()
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter

    @property
    def reusable(self) -> bool:
        return self.done and self.keep_alive and not self.closed

    def time_out(self) -> None:
        """The exchange's deadline passed: the call fails as a timeout, the connection goes."""
        self._fail(TimeoutError("no whole answer within the upstream's timeout"))

    def _fail(self, error: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)
        self.abort()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


def _header_lines(headers: dict[str, str]) -> bytes:
    """Header lines for a request head; a value that is not printable ASCII (no CR or LF can
    split the head) is left out."""
    return b"".join(
        f"{name}: {value}\r\n".encode()
        for name, value in headers.items()
        if value.isascii() and value.isprintable()
    )


def _too_large() -> Exception:
    return failure("too_large", "OMA upstream's answer is larger than max_answer")


def _longer_than(length: bytes, limit: int) -> bool:
    value = length.strip()
    return value.isdigit() and int(value) > limit


def _decoded(body: bytearray, encoding: bytes, limit: int) -> bytes:
    if encoding in (b"", b"identity"):
        return bytes(body)
    if encoding not in (b"gzip", b"x-gzip", b"deflate"):
        raise failure("other", "OMA upstream's answer has an unsupported Content-Encoding")
    # gzip, or deflate in its zlib wrapper (what servers send as "deflate"): wbits 32+ detects.
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 32)
    try:
        data = inflater.decompress(bytes(body), limit + 1)
    except zlib.error as exc:
        raise failure("other", "OMA upstream's compressed answer is corrupt") from exc
    if len(data) > limit or inflater.unconsumed_tail:
        raise _too_large()
    return data


class Pool:
    """Keep-alive connections to the origin of `url`; `post(method, body)` is one exchange."""

    def __init__(
        self,
        url: str,
        *,
        limit: int,
        timeout: float,
        max_answer: int,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "localhost"
        self.https = parts.scheme == "https"
        self.port = parts.port or (443 if self.https else 80)
        self.path = parts.path.rstrip("/")
        default_port = self.port == (443 if self.https else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.authority = host if default_port else f"{host}:{self.port}"
        self.timeout, self.max_answer = timeout, max_answer
        self._tls = tls
        self._slots = asyncio.Semaphore(limit) if limit > 0 else None
        self._idle: list[_Exchange] = []  # last in, first out: the warmest connection first
        self._heads: dict[str, bytes] = {}
        self._swept = time.monotonic()
        self._closing = False

    async def post(
        self, method: str, payload: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """OMA's status and (decoded) answer; transport failures raise as they are, for
        `failures.cause_of`; an answer the gateway will not take raises `UpstreamError`.
        `headers` are per-call extras (the trace context) besides the prebuilt head."""
        extra = _header_lines(headers) if headers else b""
        length = str(len(payload)).encode()
        request = b"".join((self._head(method), extra, b"Content-Length: ", length, _END, payload))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        # The common case (a free slot, a warm connection) costs one timer on the exchange; only
        # a wait for a slot or a new connection pays for an asyncio.timeout (a few us a call).
        slots = self._slots
        if slots is not None:
            if slots.locked():
                async with asyncio.timeout_at(deadline):
                    await slots.acquire()
            else:
                await slots.acquire()  # free: taken without suspending
        try:
            conn = self._take_idle()
            if conn is None:
                async with asyncio.timeout_at(deadline):
                    conn = await self._connect()
            return await self._exchange(loop, conn, request, deadline)
        finally:
            if slots is not None:
                slots.release()

    async def _exchange(
        self, loop: asyncio.AbstractEventLoop, conn: _Exchange, request: bytes, deadline: float
    ) -> tuple[int, bytes]:
        timer = loop.call_at(deadline, conn.time_out)
        try:
            answer = await conn.exchange(request)
        except BaseException:
            conn.abort()  # cancelled, timed out or failed: an answer may still be on its way
            raise
        finally:
            timer.cancel()
        self._give_back(conn)
        return answer

    def _head(self, method: str) -> bytes:
        head = self._heads.get(method)
        if head is None:
            head = (
                f"POST {self.path}/{method} HTTP/1.1\r\nHost: {self.authority}\r\n"
                "Content-Type: application/json\r\nAccept: application/json\r\n"
            ).encode()  # the per-call lines and Content-Length follow (post)
            if len(self._heads) < _METHOD_HEADS:
                self._heads[method] = head
        return head

    def _take_idle(self) -> _Exchange | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and now - conn.idle_since < IDLE:
                return conn
            conn.abort()
        return None

    def _give_back(self, conn: _Exchange) -> None:
        if not conn.reusable or self._closing:
            conn.abort()
            return
        now = conn.idle_since = time.monotonic()
        self._idle.append(conn)
        if now - self._swept >= _SWEEP:  # the coldest are at the bottom of the stack
            self._swept = now
            while self._idle and now - self._idle[0].idle_since >= IDLE:
                self._idle.pop(0).abort()

    async def _connect(self) -> _Exchange:
        loop = asyncio.get_running_loop()
        tls = await self._tls_context() if self.https else None
        _, conn = await loop.create_connection(
            lambda: _Exchange(self.max_answer),
            self.host,
            self.port,
            ssl=tls,
            server_hostname=self.host if tls is not None else None,
        )
        return conn

    async def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:  # the system trust store takes tens of ms to load: off the loop
            self._tls = await asyncio.to_thread(ssl.create_default_context)
        return self._tls

    @property
    def idle(self) -> int:
        return len(self._idle)

    async def close(self) -> None:
        self._closing = True
        for conn in self._idle:
            conn.abort()
        self._idle.clear()
        await asyncio.sleep(0)  # let the aborted transports close before the loop ends
