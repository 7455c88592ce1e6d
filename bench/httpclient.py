"""A minimal HTTP/1.1 keep-alive client connection for the bench's own load generators.

Just enough HTTP to measure: send a prebuilt request, read one Content-Length (or chunked)
answer, return its status and body. Far cheaper per request than a general client, so the
Python load generator perturbs the figures less.
"""

from __future__ import annotations

import asyncio
from typing import cast


def build_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class ResponseError(Exception):
    """The server answered something this client cannot frame."""


def parse_response(buf: bytearray) -> tuple[int, bytes] | None:
    """Take one whole response off the front of `buf`; None while it is incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end]).split(b"\r\n")
    status = int(head[0].split(b" ", 2)[1])
    fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(b":") for h in head[1:])}
    if b"content-length" in fields:
        total = end + 4 + int(fields[b"content-length"])
        if len(buf) < total:
            return None
        body = bytes(buf[end + 4 : total])
        del buf[:total]
        return status, body
    if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
        return _take_chunked(buf, end + 4, status)
    raise ResponseError("response without Content-Length or chunked encoding")


def _take_chunked(buf: bytearray, start: int, status: int) -> tuple[int, bytes] | None:
    body = bytearray()
    pos = start
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        if len(buf) < eol + 2 + size + 2:
            return None
        body += buf[eol + 2 : eol + 2 + size]
        pos = eol + 2 + size + 2
        if size == 0:
            del buf[:pos]
            return status, bytes(body)


class Connection(asyncio.Protocol):
    """One keep-alive connection; `call` sends a request and waits for its answer."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(ConnectionResetError("connection closed by the server"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is None or self.waiter.done():
            return
        try:
            answer = parse_response(self.buf)
        except (ResponseError, ValueError, IndexError) as exc:
            self._fail(exc)
            return
        if answer is not None:
            self.waiter.set_result(answer)

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    async def call(self, request: bytes) -> tuple[int, bytes]:
        if self.transport is None:
            raise ConnectionResetError("not connected")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(host: str, port: int) -> Connection:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(Connection, host, port)
    return conn
