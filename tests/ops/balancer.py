"""A small L4 balancer for the tests, as kube-proxy behaves toward a rolling update.

Each accepted connection is pinned to one backend, chosen round-robin among the current
endpoints, and bytes are copied both ways until either side closes (then both are closed).
Removing an endpoint only stops new connections to it: connections already pinned keep going
to it, which is exactly what makes keep-alive clients fail when a terminating pod closes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

__all__ = ["Balancer"]


class Balancer:
    def __init__(self) -> None:
        self.endpoints: list[int] = []
        self.port = 0
        self._turn = itertools.count()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Balancer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._pipes:
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.endpoints:
            writer.close()
            return
        port = self.endpoints[next(self._turn) % len(self.endpoints)]
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))
        finally:
            self._pipes.discard(task)
            for end in (writer, up_writer):
                end.close()


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    sink.close()  # one side ended: so does the other, as for a closed TCP connection
