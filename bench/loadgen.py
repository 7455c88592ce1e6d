"""Closed-loop load: `wrk` with a generated Lua script when installed, else a Python fallback.

Both print one JSON line, `BENCH-JSON {...}`, with the request count, the duration, the error
counts and the latency percentiles in microseconds; `parse_output` turns it into a `Result`.

    python -m bench.loadgen --url http://127.0.0.1:8001/api/get_user --body '{}' \
        --header 'Authorization: Bearer KEY' --connections 64 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from bench.httpclient import build_request, connect
from bench.procs import PYTHON, raise_nofile, run_pinned

MARK = "BENCH-JSON "


@dataclass(frozen=True)
class Target:
    """Where and what to POST."""

    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def all_headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", **self.headers}


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    tool: str


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


def median_result(results: list[Result]) -> Result:
    """Per-figure medians of repeated runs (request and error counts are summed)."""
    return Result(
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        requests=sum(r.requests for r in results),
        errors=sum(r.errors for r in results),
        tool=results[0].tool + (f" x{len(results)}" if len(results) > 1 else ""),
    )


def parse_output(text: str, tool: str) -> Result:
    line = next((ln for ln in text.splitlines() if ln.startswith(MARK)), None)
    if line is None:
        raise ValueError(f"{tool} printed no {MARK.strip()} line:\n{text[-2000:]}")
    data = orjson.loads(line[len(MARK) :])
    seconds = data["duration_us"] / 1e6
    return Result(
        rps=data["requests"] / seconds if seconds else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        requests=data["requests"],
        errors=sum(data["errors"].values()),
        tool=tool,
    )


WRK_LUA = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
{headers}
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{mark}{{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"errors":{{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def wrk_script(target: Target) -> str:
    headers = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in target.all_headers().items())
    return WRK_LUA.format(body=target.body.decode(), headers=headers, mark=MARK)


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_closed(
    target: Target, connections: int, duration: float, cpus: str | None, tool: str = "wrk"
) -> Result:
    """Drive `target` as hard as `connections` keep-alive connections can for `duration` s."""
    if tool == "wrk":
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(wrk_script(target))
        cmd = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, math.ceil(duration))}s",
            "--timeout",
            "10s",
        ]
        cmd += ["-s", script.name, target.url]
    else:
        cmd = python_command("bench.loadgen", target)
        cmd += ["--connections", str(connections), "--duration", str(duration)]
    try:
        output = run_pinned(cmd, cpus, timeout=duration + 60)
    finally:
        if tool == "wrk":
            Path(script.name).unlink(missing_ok=True)
    return parse_output(output, tool)


def python_command(module: str, target: Target) -> list[str]:
    """Our Python load generator `module`, aimed at `target`."""
    cmd = [PYTHON, "-m", module, "--url", target.url, "--body", target.body.decode()]
    return cmd + [f"--header={k}: {v}" for k, v in target.headers.items()]


async def _worker(
    host: str, port: int, request: bytes, deadline: float, lat: list[float], errors: list[int]
) -> None:
    conn = None
    with contextlib.suppress(asyncio.CancelledError):
        while time.perf_counter() < deadline:
            try:
                conn = conn or await connect(host, port)
                start = time.perf_counter()
                status, _ = await conn.call(request)
                lat.append(time.perf_counter() - start)
                if status >= 400:
                    errors[0] += 1
            except (OSError, ValueError):
                errors[0] += 1
                conn = None
                await asyncio.sleep(0.01)
    if conn is not None:
        conn.close()


async def python_closed(target: Target, connections: int, duration: float) -> dict[str, object]:
    parts = urlsplit(target.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = build_request(host, port, parts.path, target.body, target.all_headers())
    lat: list[float] = []
    errors = [0]
    start = time.perf_counter()
    deadline = start + duration
    workers = [_worker(host, port, request, deadline, lat, errors) for _ in range(connections)]
    await asyncio.wait_for(asyncio.gather(*workers), duration + 30)
    elapsed = time.perf_counter() - start
    lat.sort()
    return {
        "requests": len(lat),
        "duration_us": int(elapsed * 1e6),
        "p50_us": int(percentile(lat, 50) * 1e6),
        "p99_us": int(percentile(lat, 99) * 1e6),
        "errors": {"status_or_io": errors[0]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Python fallback closed-loop load generator")
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", default="{}")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    target = Target(args.url, args.body.encode(), headers)
    raise_nofile()
    gc.disable()  # a bounded run: no collector pauses inside the measured latencies
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    summary = asyncio.run(python_closed(target, args.connections, args.duration))
    print(MARK + orjson.dumps(summary).decode(), flush=True)


if __name__ == "__main__":
    main()
