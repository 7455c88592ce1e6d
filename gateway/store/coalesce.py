"""Concurrent limiter checks share round trips: one pipeline carries every check queued meanwhile.

Without this, N concurrent calls need N pooled connections, and a burst on a cold pool opens
them all at once (connect plus handshake each): on a small host 150 concurrent first calls took
over 300 ms, far past the store's 100 ms timeout, and tripped the breaker on a healthy Redis.
With it, one round trip is in flight at a time; whatever arrives meanwhile goes out together as
the next batch. An idle gateway sends its check directly (no task hop, no pipeline), and a busy
one sends fewer, larger round trips.
Each check is still its own script call, so atomicity per call is unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from redis.exceptions import NoScriptError

from .scripts import Client, Script

__all__ = ["Coalescer"]

Job = tuple[list[str], list[Any], "asyncio.Future[Any]"]


class Coalescer:
    def __init__(self, client: Client, script: Script) -> None:
        self._client = client
        self._script = script
        self._queue: list[Job] = []
        self._sender: asyncio.Task[None] | None = None
        self._busy = False  # a round trip is in flight (a direct call or the sender's batch)

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        if not self._busy:
            # Idle: this call is the batch, sent straight away without a task hop. Whatever
            # arrives while it is out queues up and leaves together when it is back.
            self._busy = True
            try:
                return await self._script(self._client, keys, args)
            finally:
                self._next_batch()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((keys, args, future))
        return await future

    def _next_batch(self) -> None:
        if self._queue:
            self._sender = asyncio.create_task(self._send(), name="store:coalesce")
        else:
            self._busy = False

    async def close(self) -> None:
        if self._sender is not None and not self._sender.done():
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender

    async def _send(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    results = await self._execute(batch)
                except Exception as exc:  # the whole round trip failed: every check in it did
                    for *_, future in batch:
                        _settle(future, exc)
                    continue
                for job, result in zip(batch, results, strict=True):
                    await self._deliver(job, result)
        finally:
            self._busy = False

    async def _execute(self, batch: list[Job]) -> list[Any]:
        if len(batch) == 1:  # nothing to share: skip the pipeline's bookkeeping
            keys, args, _ = batch[0]
            return [await self._script(self._client, keys, args)]
        pipe = self._client.pipeline(transaction=False)
        for keys, args, _ in batch:
            # execute_command, not pipe.evalsha: cluster pipelines refuse the latter because a
            # script's keys might span slots; ours never do (one hash tag), and the pipeline
            # routes each call by its first key.
            pipe.execute_command("EVALSHA", self._script.sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))

    async def _deliver(self, job: Job, result: Any) -> None:
        keys, args, future = job
        if isinstance(result, NoScriptError) and not future.done():
            try:  # the server lost its script cache: this call reloads it (EVAL), once
                result = await self._script(self._client, keys, args)
            except Exception as exc:
                result = exc
        _settle(future, result)


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if future.done():  # its caller gave up (timeout, hang-up): nobody is waiting
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
