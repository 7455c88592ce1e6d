"""Concurrency and memory: N calls in flight at once through a proxy whose upstream waits 1 s.

The client opens N keep-alive connections first, then sends one call on each at the same moment,
so all N are in flight together; the upstream stub confirms it (its peak of calls in flight).
Reported: failed calls (must be 0), the proxy's peak RSS (VmHWM), and how many `authenticate`
calls the upstream saw (must be 1 for the gateway: one token for everybody, fetched once even
when N callers arrive together with a cold token cache). The bare baseline proxy runs the same
scenario first, as the memory floor.

    python bench/inflight.py [--calls 10000]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/inflight.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import gateway
from bench.inflight_client import run_fire
from bench.procs import Children, free_port, raise_nofile, vm_hwm_kib
from bench.report import InflightFigures
from bench.systems import (
    BODY,
    METHOD,
    Running,
    gateway_headers,
    start_baseline,
    start_gateway,
    start_stub,
    stub_stats,
)

UPSTREAM_DELAY = 1.0


UPSTREAM_CAP = 1024  # the gateway's default upstreams.*.max_connections; the baseline's too


def _fd_note(calls: int) -> str:
    """Each call holds a caller socket, and (up to the cap) an upstream socket, in the proxy."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    needed = calls + min(calls, UPSTREAM_CAP) + 100
    return f"fd limit {hard} < ~{needed} needed" if hard < needed else ""


def _measure(
    name: str, running: Running, stub: Running, calls: int, headers: dict[str, str]
) -> InflightFigures:
    timeout = 30 + calls / 500
    outcome = run_fire(running.port, f"/api/{METHOD}", BODY, headers, calls, timeout)
    stats = stub_stats(stub)
    auths = stats.get("calls", {})
    note = _fd_note(calls) or (f"first error: {outcome.first_error}" if outcome.errors else "")
    return InflightFigures(
        label=name,
        calls=calls,
        errors=outcome.errors,
        peak_rss_mib=vm_hwm_kib(running.proc.pid) / 1024,
        auth_calls=int(auths.get("authenticate", 0)) if isinstance(auths, dict) else 0,
        upstream_peak_in_flight=int(str(stats.get("peak_in_flight", 0))),
        seconds=outcome.seconds,
        note=note,
    )


def run_inflight(
    kids: Children, tmp: Path, calls: int, gateway_missing: str | None, say: Callable[[str], None]
) -> list[InflightFigures]:
    say(f"in flight: {calls} calls through the baseline proxy")
    stub = start_stub(kids, UPSTREAM_DELAY, "stub-slow-baseline")
    base = start_baseline(kids, f"http://127.0.0.1:{stub.port}/api")
    out = [_measure("(b) baseline aiohttp pass-through", base, stub, calls, {})]
    kids.stop(base.proc)
    kids.stop(stub.proc)
    if gateway_missing:
        return out
    say(f"in flight: {calls} calls through the gateway (cold token cache)")
    stub = start_stub(kids, UPSTREAM_DELAY, "stub-slow-gateway")
    # Every call on its own connection: the caller cap must admit them all (plus the probes).
    setup = gateway.GatewaySetup(
        free_port(), free_port(), f"http://127.0.0.1:{stub.port}/api", max_connections=calls + 64
    )
    try:
        gw, _ = start_gateway(kids, setup, tmp, "gw-inflight", warm=False)
    except RuntimeError as exc:
        say(str(exc))
        return [
            *out,
            InflightFigures("(d) gateway memory://", 0, 0, 0, 0, 0, 0, f"FAILED: {exc}"[:60]),
        ]
    out.append(_measure("(d) gateway memory://", gw, stub, calls, gateway_headers()))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=10000)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    raise_nofile()
    tmp = Path(tempfile.mkdtemp(prefix="oma-bench-inflight-"))
    with Children(tmp) as kids:
        figures = run_inflight(kids, tmp, args.calls, gateway.gateway_available(), print)
    shutil.rmtree(tmp, ignore_errors=True)
    for f in figures:
        print(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
