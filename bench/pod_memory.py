"""Memory of one gateway worker, idle and with N calls in flight: what the pod's limits rest on.

Starts the stub upstream (answers after 1 s) and one `oma-gateway serve` process (one worker,
as the shipped Deployment runs it), warms it with one call, then reads its PSS and RSS from
/proc/PID/smaps_rollup idle, and every 50 ms while N keep-alive callers send one call each at the
same moment (bench/inflight_client). Prints idle and peak PSS/RSS in MiB. `max_connections` is
raised to fit N: at the default (4096) a worker holds at most that many callers' connections.

    python bench/pod_memory.py [--calls 10000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/pod_memory.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import gateway
from bench.inflight_client import run_fire
from bench.procs import Children, free_port, raise_nofile
from bench.systems import BODY, METHOD, gateway_headers, start_gateway, start_stub


def pss_rss_mib(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        fields[name.rstrip(":")] = int(value)
    return fields["Pss"] / 1024, fields["Rss"] / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=10000)
    args = parser.parse_args()
    raise_nofile()
    tmp = Path(tempfile.mkdtemp(prefix="oma-bench-memory-"))
    with Children(tmp) as kids:
        stub = start_stub(kids, 1.0, "stub-slow")
        upstream = f"http://127.0.0.1:{stub.port}/api"
        # Room for every call: the default max_connections (4096) would refuse the rest.
        setup = gateway.GatewaySetup(
            free_port(), free_port(), upstream, max_connections=args.calls + 64
        )
        gw, _ = start_gateway(kids, setup, tmp, "gw-memory", warm=True)
        time.sleep(2.0)
        idle = pss_rss_mib(gw.proc.pid)
        peak = [0.0, 0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                pss, rss = pss_rss_mib(gw.proc.pid)
                peak[0], peak[1] = max(peak[0], pss), max(peak[1], rss)
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        headers = gateway_headers()
        outcome = run_fire(
            gw.port, f"/api/{METHOD}", BODY, headers, args.calls, 60 + args.calls / 500
        )
        done.set()
        sampler.join()
        after = pss_rss_mib(gw.proc.pid)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"calls in flight: {args.calls}, errors: {outcome.errors}")
    print(f"idle:  PSS {idle[0]:.1f} MiB, RSS {idle[1]:.1f} MiB")
    print(f"peak:  PSS {peak[0]:.1f} MiB, RSS {peak[1]:.1f} MiB")
    print(f"after: PSS {after[0]:.1f} MiB, RSS {after[1]:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
