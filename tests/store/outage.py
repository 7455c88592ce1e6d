"""A real redis-server that tests can kill, restart on the same port, or freeze (SIGSTOP)."""

from __future__ import annotations

import contextlib
import os
import signal

import redis

from ..support import free_port, redis_server


class RedisProcess:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._running: contextlib.ExitStack | None = None
        self._pid = 0

    def start(self) -> None:
        stack = contextlib.ExitStack()
        stack.enter_context(redis_server(self.port))
        self._running = stack
        with redis.Redis.from_url(self.url) as client:
            self._pid = int(client.info("server")["process_id"])

    def kill(self) -> None:
        if self._running is not None:
            self.resume()
            self._running.close()
            self._running = None

    def freeze(self) -> None:
        """The server keeps its sockets open but answers nothing, like a hung host."""
        os.kill(self._pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self._pid, signal.SIGCONT)
