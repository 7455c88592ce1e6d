"""What a caller's connection may hold: a deadline for sending a request, a per-process cap.

aiohttp bounds header sizes and idle keep-alive (`keepalive_timeout`) but sets no deadline on
receiving a request, and no cap on connections: a slow sender (slowloris), a stalled 1 MiB body
or a thousand idle sockets each pin a descriptor and a buffer for as long as they like. Here each
connection is wrapped, at the asyncio protocol level, by a `Connection` that:

- gives the caller `client_timeout` from its request's first byte (or from connecting) until the
  body is in (`body_read`) or the answer is made (`request_finished`); then aborts the socket;
- counts against `max_connections`: beyond it the oldest IDLE connection (connected or kept alive
  with no request under way) is closed to make room, and when none is idle the new one is
  refused. Calls under way are never cut for a newcomer.

Garbage is bounded by bytes, not only by object counts: the process collects its young
generations rarely (`serve._steady_gc`), and a reference cycle that holds a request's buffers
(aiohttp makes one for every request it cannot parse, aio-libs/aiohttp#10671) would otherwise
wait for thousands of calls, each pinning its body: 200 malformed 3 MiB requests took a process
to 1.3 GiB. The guard counts the bytes callers send and runs a full collection after every
`COLLECT_EVERY` of them, so such garbage never holds much more than that. Full, not young: the
collection runs mid-request, and would promote the live call's objects past the young generations
to die there uncollected. Callers' OMA bodies are a few hundred bytes: that is one collection
per tens of thousands of calls.

The cap is lowered to fit the process's descriptor limit (`fd_cap`): every caller connection may
need an upstream connection too, and a process that runs out of descriptors stops accepting
anyone (`EMFILE`), which is how 1,030 idle sockets stopped all service.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import ssl
from collections import OrderedDict
from collections.abc import Callable
from typing import cast

import structlog
from aiohttp import web

__all__ = [
    "CONNECTIONS",
    "Connection",
    "ConnectionGuard",
    "GuardedSite",
    "fd_cap",
    "raise_fd_limit",
]

log = structlog.get_logger(__name__)

#: Descriptors kept aside from callers' connections: listeners, the store, the audit file, logs.
FD_RESERVE = 64
#: Bytes received from callers between two full collections.
COLLECT_EVERY = 16 * 1024 * 1024
ProtocolFactory = Callable[[], asyncio.Protocol]


def raise_fd_limit() -> int:
    """Lift the soft descriptor limit to the hard one (as Go does at start); the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError):
            return soft
        return hard
    return soft


def fd_cap(max_connections: int, fd_limit: int, upstream_sockets: int | None = None) -> int:
    """Callers' connections this process can hold without running out of descriptors.

    Each caller's call may hold one upstream connection, so half of what the reserve leaves is
    always safe. When the upstream pools are bounded (`upstream_sockets` in all), the callers
    may have the rest beside them: an upstream socket exists only for a caller's call or idle in
    a pool, so callers plus `upstream_sockets` never exceed the limit either."""
    usable = fd_limit - FD_RESERVE
    beside = usable - upstream_sockets if upstream_sockets is not None else 0
    return max(1, min(max_connections, max(usable // 2, beside)))


class ConnectionGuard:
    """The callers' connections of one process: their count, which are idle, their deadlines."""

    def __init__(self, *, client_timeout: float, max_connections: int) -> None:
        self.client_timeout = client_timeout
        self.max_connections = max_connections
        self._open: set[Connection] = set()
        self._idle: OrderedDict[Connection, None] = OrderedDict()  # oldest first
        self._by_handler: dict[object, Connection] = {}
        self._uncollected = 0  # bytes received since the last collection

    def received(self, size: int) -> None:
        self._uncollected += size
        if self._uncollected >= COLLECT_EVERY:
            self._uncollected = 0
            gc.collect()

    @property
    def open(self) -> int:
        return len(self._open)

    def protocol_factory(self, inner: ProtocolFactory) -> ProtocolFactory:
        return lambda: Connection(self, inner())

    def body_read(self, request: web.BaseRequest) -> None:
        """The request is in whole: its sender is no longer on the clock."""
        connection = self._by_handler.get(request.protocol)
        if connection is not None:
            connection.disarm()

    def request_finished(self, request: web.BaseRequest) -> None:
        connection = self._by_handler.get(request.protocol)
        if connection is not None:
            connection.disarm()
            connection.waiting()
            self.idle(connection)

    def admit(self, connection: Connection, handler: object) -> bool:
        """Count a new connection in; False when it must be refused."""
        if len(self._open) >= self.max_connections and not self._evict_idle():
            log.warning("connection_refused", open=len(self._open), _budget=True)
            return False
        self._open.add(connection)
        self._by_handler[handler] = connection
        self.idle(connection)
        return True

    def idle(self, connection: Connection) -> None:
        self._idle[connection] = None
        self._idle.move_to_end(connection)

    def busy(self, connection: Connection) -> None:
        self._idle.pop(connection, None)

    def release(self, connection: Connection, handler: object) -> None:
        self._open.discard(connection)
        self._idle.pop(connection, None)
        self._by_handler.pop(handler, None)

    def _evict_idle(self) -> bool:
        if not self._idle:
            return False
        oldest, _ = self._idle.popitem(last=False)
        oldest.abort()
        self.release(oldest, oldest.inner)
        return True


class Connection(asyncio.Protocol):
    """aiohttp's protocol for one connection, plus a deadline and a place under the cap."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard, self.inner = guard, inner
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._waiting = True  # no byte of a request yet: the next byte starts the clock

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        self.inner.connection_made(transport)
        if not self.guard.admit(self, self.inner):
            self.abort()
            return
        self._arm()  # a connection that never sends a byte is a stalled request too

    def data_received(self, data: bytes) -> None:
        if self._waiting:
            self._waiting = False
            self.guard.busy(self)
            if self._timer is None:
                self._arm()
        self.guard.received(len(data))
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        self.guard.release(self, self.inner)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def waiting(self) -> None:
        self._waiting = True

    def abort(self) -> None:
        self.disarm()
        if self.transport is not None:
            self.transport.abort()

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.guard.client_timeout, self._too_slow)

    def _too_slow(self) -> None:
        self._timer = None
        log.info("client_timeout", timeout=self.guard.client_timeout, _budget=True)
        self.abort()


#: The guard of the callers' port, for the middleware (absent when no guarded site serves the app).
CONNECTIONS = web.AppKey("connections", ConnectionGuard)


#: Connections the kernel may hold for accept (capped by net.core.somaxconn). aiohttp's 128
#: overflowed when 2,000 callers connected at once (a rolling update, a client pool's start):
#: dropped SYNs are retried after 1, 3, 7... seconds, so some connects took half a minute.
BACKLOG = 4096


class GuardedSite(web.BaseSite):
    """A TCP site whose every connection is a guarded `Connection` around aiohttp's protocol."""

    __slots__ = ("_app_runner", "_guard", "_host", "_port", "_reuse_port")

    def __init__(
        self, runner: web.BaseRunner, guard: ConnectionGuard, host: str, port: int, *,
        reuse_port: bool = False, ssl_context: ssl.SSLContext | None = None,
    ) -> None:  # fmt: skip
        super().__init__(runner, ssl_context=ssl_context, backlog=BACKLOG)
        self._app_runner, self._guard = runner, guard
        self._host, self._port, self._reuse_port = host, port, reuse_port

    @property
    def name(self) -> str:
        return f"{'https' if self._ssl_context else 'http'}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._app_runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._guard.protocol_factory(server), self._host, self._port, ssl=self._ssl_context,
            backlog=self._backlog, reuse_port=self._reuse_port or None,
        )  # fmt: skip
