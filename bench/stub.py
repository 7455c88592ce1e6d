"""A zero-latency OMA upstream: a raw asyncio HTTP/1.1 keep-alive responder on uvloop.

`authenticate` gets a session token, every other method a small success body, `GET /__stats`
the counters (calls per method, peak calls in flight). With `--delay S` every answer is held
back S seconds, for the in-flight scenario. Requests are answered in order per connection.

    python -m bench.stub --listen 127.0.0.1:8000 [--delay 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import signal
from typing import cast

import orjson

from bench.procs import raise_nofile

_TOKEN = os.urandom(16).hex()
AUTH_BODY = orjson.dumps(
    {"success": True, "session_token": _TOKEN, "session_token_duration": 10800}
)
OK_BODY = orjson.dumps({"success": True, "attributes": {"account": "alice@demo.example"}})


def response(status: bytes, body: bytes, close: bool = False) -> bytes:
    head = (
        b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n"
    )
    return head + (b"Connection: close\r\n\r\n" if close else b"\r\n") + body


AUTH_RESPONSE = response(b"200 OK", AUTH_BODY)
OK_RESPONSE = response(b"200 OK", OK_BODY)
BAD_RESPONSE = response(b"400 Bad Request", b'{"success":false}', close=True)


class Stats:
    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.in_flight = 0
        self.peak_in_flight = 0

    def body(self) -> bytes:
        return orjson.dumps({"calls": dict(self.calls), "peak_in_flight": self.peak_in_flight})


def header_value(head: bytes, name: bytes) -> bytes | None:
    """The value of header `name` (lowercase) in a raw header block, if present."""
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


class StubProtocol(asyncio.Protocol):
    def __init__(self, stats: Stats, delay: float) -> None:
        self.stats = stats
        self.delay = delay
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only duck-typed ones.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buf[:end])
            length = header_value(head, b"content-length")
            total = end + 4 + (int(length) if length else 0)
            if len(self.buf) < total:
                return
            del self.buf[:total]
            self.answer(head)

    def answer(self, head: bytes) -> None:
        path = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b""
        if path == b"/__stats":
            self.write(response(b"200 OK", self.stats.body()))
            return
        method = path.rsplit(b"/", 1)[-1].decode("ascii", "replace")
        if not method:
            self.write(BAD_RESPONSE)
            return
        self.stats.calls[method] += 1
        reply = AUTH_RESPONSE if method == "authenticate" else OK_RESPONSE
        if self.delay <= 0:
            self.write(reply)
            return
        self.stats.in_flight += 1
        self.stats.peak_in_flight = max(self.stats.peak_in_flight, self.stats.in_flight)
        asyncio.get_running_loop().call_later(self.delay, self.write_late, reply)

    def write_late(self, reply: bytes) -> None:
        self.stats.in_flight -= 1
        self.write(reply)

    def write(self, reply: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(reply)
            if reply is BAD_RESPONSE:
                self.transport.close()


async def serve(host: str, port: int, delay: float) -> None:
    loop = asyncio.get_running_loop()
    stats = Stats()
    server = await loop.create_server(
        lambda: StubProtocol(stats, delay), host, port, backlog=16384, reuse_address=True
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:8000")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    raise_nofile()
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(serve(host, int(port), args.delay))


if __name__ == "__main__":
    main()
