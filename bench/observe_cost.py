"""What the audit observer costs per call, in process: today's `AuditTrail.observe` against the
one it replaced (the record through structlog's processor chain, a write and a flush per line,
the record encoded a second time for the file, the secret set rebuilt per call), in one run.

    .venv/bin/python -m bench.observe_cost [--calls 10000] [--rounds 7] [--batch 1 8]

The `Call` is a real one: a `get_user` through the gateway in process, in front of the sandbox,
by a caller with a rate limit, captured by an observer; the gateway's secrets (upstream password,
session token) are live in the secret set as in production. Both observers write their stdout
lines to /dev/null through a buffered file, and with `--file` (the default) both hand records to a
real audit file's writer thread. `--batch K`: K calls per event-loop iteration (the loop turns
after each K, which is when the new observer's queued lines are written); at saturation with 32
connections several calls finish per iteration. Rounds alternate old/new (ABAB...), and each
figure is the median over rounds of wall and process-CPU microseconds per call (process CPU
includes the writer thread's sealing, the same work for both).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import structlog
from aiohttp.test_utils import TestClient, TestServer

from gateway import logs
from gateway.app import GATEWAY, create_app
from gateway.audit import AuditTrail
from gateway.audit.encode import bound_record
from gateway.audit.record import FOREIGN_FIELDS, build_record
from gateway.audit.redact import ALREADY_REDACTED, REDACTOR
from gateway.call import Call, current_call
from gateway.redaction import MIN_SECRET_LENGTH, Cleaner, SecretSet
from gateway.sandbox import ManualClock, Sandbox, create_sandbox_app
from gateway.settings import AuditSettings, RateSpec
from tests.support import bearer, caller, make_settings

Observer = Callable[[Call], None]


async def captured_call() -> tuple[Call, Callable[[], Any]]:
    """One real call's `Call`, and what closes the gateway and sandbox behind it."""
    oma = TestServer(create_sandbox_app(Sandbox(clock=ManualClock(time.time()))))
    await oma.start_server()
    limited = caller("billing", allow=("get_*",), rate_limit=RateSpec(1000.0, 1000))
    app = create_app(make_settings(str(oma.make_url("/api")), callers={"billing": limited}))
    client = TestClient(TestServer(app))
    await client.start_server()
    seen: list[Call] = []
    app[GATEWAY].observers.insert(0, seen.append)
    headers = {**bearer("billing"), "X-Request-ID": "bench-req-0001"}
    response = await client.post("/api/get_user", json={"user": "alice@demo.example"},
                                 headers=headers)  # fmt: skip
    assert response.status == 200, await response.text()

    async def close() -> None:
        await client.close()
        await oma.close()

    return seen[0], close


# The observer as it was before this change, kept here to measure against.


def old_chain_logger(stream: BinaryIO) -> Any:
    """The pre-change production logger: the same chain, BytesLogger, cached on first use."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            logs.add_request_id,
            structlog.processors.add_log_level,
            logs.LineBudget(),
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            structlog.processors.format_exc_info,
            REDACTOR.processor,
            structlog.processors.JSONRenderer(serializer=logs._dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(20),
        logger_factory=structlog.BytesLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
    log = structlog.get_logger("gateway.audit")
    log.info("warm_up")  # binds and caches this configuration in the proxy
    return log


def old_secrets(secret_set: SecretSet, extra: Iterable[str]) -> list[str]:
    """`SecretSet.values` before the change: every source read and a new set built per call."""
    with secret_set._lock:
        sources = list(secret_set._sources.values())
    values = {v for source in sources for v in source()}
    call = current_call.get()
    if call is not None and call.presented_key is not None:
        values.add(call.presented_key.reveal())
    values.update(extra)
    return _old_escaped(frozenset(v for v in values if len(v) >= MIN_SECRET_LENGTH))


@functools.lru_cache(maxsize=64)
def _old_escaped(values: frozenset[str]) -> list[str]:
    out = set()
    for value in values:
        out.add(value)
        out.add(orjson.dumps(value).decode()[1:-1])
    return sorted(out, key=len, reverse=True)


def old_observer(trail: AuditTrail, log: Any) -> Observer:
    def observe(call: Call) -> None:
        key = [call.presented_key.reveal()] if call.presented_key is not None else []
        record = bound_record(build_record(call))
        cleaner = Cleaner(old_secrets(REDACTOR.secret_set, key), for_logs=True)
        for name in FOREIGN_FIELDS:
            if name in record:
                record[name] = cleaner.value(record[name])
        log.info("audit", **record, **{ALREADY_REDACTED: True})
        if trail.writer is not None:
            trail.writer.submit({"event": "audit", **record})

    return observe


async def one_round(
    observe: Observer, call: Call, calls: int, batch: int, trail: AuditTrail | None = None
) -> tuple[float, float]:
    """Microseconds per call, wall and process CPU, for `calls` calls, `batch` per iteration,
    until the trail's file writer has written them all (its sealing is part of a call's cost)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls // batch):
        for _ in range(batch):
            observe(call)
        await asyncio.sleep(0)  # the loop turns: queued lines are written
    # The writer thread offers nothing to await: polling its queue is this bench's own wait.
    while trail is not None and trail.writer is not None and trail.writer.queue_depth:  # noqa: ASYNC110
        await asyncio.sleep(0.0005)
    return (
        (time.perf_counter() - wall) / calls * 1e6,
        (time.process_time() - cpu) / calls * 1e6,
    )


async def compare(
    call: Call, calls: int, rounds: int, batch: int, file: Path | None, devnull: BinaryIO
) -> dict[str, tuple[float, float]]:
    log = old_chain_logger(devnull)
    logs.configure(stream=devnull, cache=True)  # the new chain; the old logger keeps its own
    settings = AuditSettings(file=None if file is None else str(file))
    trails = {"old": AuditTrail(settings), "new": AuditTrail(settings)}
    for trail in trails.values():
        if trail.writer is not None:
            trail.writer.start()
    observers = {
        "old": old_observer(trails["old"], log),
        "new": trails["new"].observe,
        "floor": lambda call: None,  # the loop's own turns, in both figures
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in observers}
    for name, observe in observers.items():  # warm-up, not counted
        await one_round(observe, call, calls // 10, batch, trails.get(name))
    for n in range(rounds):
        order = ["old", "new", "floor"] if n % 2 == 0 else ["floor", "new", "old"]
        for name in order:
            got = await one_round(observers[name], call, calls, batch, trails.get(name))
            results[name].append(got)
    for trail in trails.values():
        await trail.close()
        assert trail.writer is None or trail.writer.lost == 0
    return {
        name: (statistics.median(w for w, _ in got), statistics.median(c for _, c in got))
        for name, got in results.items()
    }


async def main(
    calls: int, rounds: int, batches: list[int], with_file: bool, devnull: BinaryIO
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        logs.configure(stream=devnull)  # the capture's own lines, out of the report
        call, close = await captured_call()
        try:
            print(f"calls per round {calls}, rounds {rounds} (alternating), medians, us per call")
            for batch in batches:
                for file in ([Path(tmp) / f"audit-{batch}.jsonl"] if with_file else []) + [None]:
                    got = await compare(call, calls, rounds, batch, file, devnull)
                    report(batch, file is not None, got)
        finally:
            await close()


def report(batch: int, file: bool, got: dict[str, tuple[float, float]]) -> None:
    """Each figure less the loop's floor (a round of calls observed by nothing)."""
    floor_wall, floor_cpu = got["floor"]
    old_wall, old_cpu = (got["old"][0] - floor_wall, got["old"][1] - floor_cpu)
    new_wall, new_cpu = (got["new"][0] - floor_wall, got["new"][1] - floor_cpu)
    where = "stdout + audit file" if file else "stdout only        "
    print(
        f"  batch {batch:2d}, {where}: wall old {old_wall:6.2f} new {new_wall:6.2f}"
        f" ({new_wall / old_wall:.2f}x) | cpu old {old_cpu:6.2f} new {new_cpu:6.2f}"
        f" ({new_cpu / old_cpu:.2f}x) | floor {floor_wall:5.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--no-file", action="store_true", help="stdout only")
    options = parser.parse_args()
    with open(os.devnull, "wb") as sink:
        asyncio.run(main(options.calls, options.rounds, options.batch, not options.no_file, sink))
