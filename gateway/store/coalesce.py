"""Concurrent limiter checks share round trips: one pipeline carries every check queued meanwhile.

Without this, N concurrent calls need N pooled connections, and a burst on a cold pool opens
them all at once (connect plus handshake each): on a small host 150 concurrent first calls took
over 300 ms, far past the store's 100 ms timeout, and tripped the breaker on a healthy Redis.
With it, one round trip is in flight at a time; whatever arrives meanwhile goes out together as
the next batch. An idle gateway sends its check directly (no task hop, no pipeline), and a busy
one sends fewer, larger round trips.
Each check is still its own script call, so atomicity per call is unchanged.

Against a plain Redis (not a cluster) a round trip skips redis-py's command layer: the EVALSHAs
are packed and sent on one pooled connection and their replies read back in order. redis-py's
`evalsha` and pipelines cost the event loop some 90 us per check (command stack, retry wrapper,
response callbacks); this is the limiter's share of every call with limits.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError

from .scripts import Client, Script

__all__ = ["Coalescer"]

Job = tuple[list[str], list[Any], "asyncio.Future[Any]"]
Check = tuple[list[str], list[Any]]


class PartialRoundTrip(RedisError):
    """The connection broke after some checks of a batch ran: not sent again (it would count
    them twice); the store reports a failure like any other."""


class Coalescer:
    def __init__(self, client: Client, script: Script, *, lean: bool = True) -> None:
        """`lean=False` keeps redis-py's command layer for a plain Redis too (the A/B of
        bench/limiter_cost.py)."""
        self._client = client
        self._plain = client if lean and isinstance(client, Redis) else None
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
                [result] = await self._execute([(keys, args)])
                return await self._settled(keys, args, result)
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
                    results = await self._execute([(keys, args) for keys, args, _ in batch])
                except Exception as exc:  # the whole round trip failed: every check in it did
                    for *_, future in batch:
                        _settle(future, exc)
                    continue
                for job, result in zip(batch, results, strict=True):
                    await self._deliver(job, result)
        finally:
            self._busy = False

    async def _execute(self, checks: list[Check]) -> list[Any]:
        """One reply per check, in order; a check's own error is its reply, not raised."""
        if self._plain is not None:
            return await self._raw(self._plain, checks)
        if len(checks) == 1:  # nothing to share: skip the pipeline's bookkeeping
            keys, args = checks[0]
            return [await self._script(self._client, keys, args)]
        pipe = self._client.pipeline(transaction=False)
        for keys, args in checks:
            # execute_command, not pipe.evalsha: cluster pipelines refuse the latter because a
            # script's keys might span slots; ours never do (one hash tag), and the pipeline
            # routes each call by its first key.
            pipe.execute_command("EVALSHA", self._script.sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))

    async def _raw(self, client: Redis, checks: list[Check]) -> list[Any]:
        try:
            return await self._round_trip(client, checks)
        except (RedisConnectionError, OSError):
            # A pooled connection the server dropped (a restart, its idle timeout) fails before
            # any check ran: once more on a fresh connection, as redis-py's own retry does.
            return await self._round_trip(client, checks)

    async def _round_trip(self, client: Redis, checks: list[Check]) -> list[Any]:
        pool = client.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        replies: list[Any] = []
        try:
            sha = self._script.sha
            packed = connection.pack_commands(
                [("EVALSHA", sha, len(keys), *keys, *args) for keys, args in checks]
            )
            await connection.send_packed_command(packed, check_health=False)
            for _ in checks:
                try:
                    replies.append(await connection.read_response())
                except ResponseError as exc:  # this check's error (NOSCRIPT...): the rest follow
                    replies.append(exc)
        except BaseException as exc:
            # Failed, timed out or cancelled mid-way: replies may still be on the wire.
            await connection.disconnect()
            if replies and isinstance(exc, RedisConnectionError | OSError):
                raise PartialRoundTrip("connection lost after some checks ran") from exc
            raise
        finally:
            await pool.release(connection)
        return replies

    async def _settled(self, keys: list[str], args: list[Any], reply: Any) -> Any:
        if isinstance(reply, NoScriptError):  # the server lost its script cache: reload (EVAL)
            return await self._script(self._client, keys, args)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    async def _deliver(self, job: Job, reply: Any) -> None:
        keys, args, future = job
        if future.done():
            return
        try:
            result = await self._settled(keys, args, reply)
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
