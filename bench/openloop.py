"""Open-loop load at a fixed rate, for latency at a given fraction of the maximum throughput.

Debian has no wrk2, so this is the bench's own, in its spirit: `connections` keep-alive
connections each send on a fixed schedule (together `rate` requests per second), whether or
not the server keeps up. A request that had to wait for its connection past its scheduled
time (more than the timer slack) is timed from the schedule, not from the late send, so a
stalling server cannot hide its stall (coordinated omission).

    python -m bench.openloop --url URL --rate 2000 --duration 10 --connections 64
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import time
from urllib.parse import urlsplit

import orjson

from bench.httpclient import build_request, connect
from bench.loadgen import MARK, Result, Target, parse_output, percentile, python_command
from bench.procs import raise_nofile, run_pinned

# Event-loop timers fire up to about a millisecond late; lateness within this is not the server's.
TIMER_SLACK = 0.002


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.late_sends = 0


async def _sender(
    host: str, port: int, request: bytes, first: float, interval: float, end: float, tally: Tally
) -> None:
    conn = await connect(host, port)
    scheduled = first
    try:
        while scheduled < end:
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = time.perf_counter()
            late = sent - scheduled > TIMER_SLACK
            tally.late_sends += late
            try:
                status, _ = await conn.call(request)
            except OSError:
                tally.errors += 1
                conn = await connect(host, port)
            else:
                tally.errors += status >= 400
                tally.latencies.append(time.perf_counter() - (scheduled if late else sent))
            scheduled += interval
    finally:
        conn.close()


async def open_loop(
    target: Target, rate: float, connections: int, duration: float
) -> dict[str, object]:
    parts = urlsplit(target.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = build_request(host, port, parts.path, target.body, target.all_headers())
    tally = Tally()
    interval = connections / rate
    start = time.perf_counter() + 0.2  # time to open every connection first
    end = start + duration
    senders = [
        _sender(host, port, request, start + i / rate, interval, end, tally)
        for i in range(connections)
    ]
    await asyncio.wait_for(asyncio.gather(*senders), duration + 30)
    elapsed = max(time.perf_counter() - start, 1e-9)
    tally.latencies.sort()
    return {
        "requests": len(tally.latencies),
        "duration_us": int(elapsed * 1e6),
        "p50_us": int(percentile(tally.latencies, 50) * 1e6),
        "p99_us": int(percentile(tally.latencies, 99) * 1e6),
        "errors": {"status_or_io": tally.errors},
        "late_sends": tally.late_sends,
    }


def run_open(
    target: Target, rate: float, connections: int, duration: float, cpus: str | None
) -> Result:
    """Run the open-loop generator as a (pinned) child process and parse its summary."""
    cmd = python_command("bench.openloop", target)
    cmd += ["--rate", f"{rate:.1f}", "--connections", str(connections)]
    cmd += ["--duration", str(duration)]
    return parse_output(run_pinned(cmd, cpus, timeout=duration + 60), "open-loop")


def main() -> None:
    parser = argparse.ArgumentParser(description="fixed-rate open-loop load generator")
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", default="{}")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    target = Target(args.url, args.body.encode(), dict(h.split(": ", 1) for h in args.header))
    raise_nofile()
    gc.disable()  # a bounded run: no collector pauses inside the measured latencies
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    summary = asyncio.run(open_loop(target, args.rate, args.connections, args.duration))
    print(MARK + orjson.dumps(summary).decode(), flush=True)


if __name__ == "__main__":
    main()
