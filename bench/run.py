"""One command, one table: the gateway's throughput and latency against same-run baselines.

    python bench/run.py [--quick] [--duration S] [--connections N] [--upstream stub|sandbox]

First the main table (`bench/compare.py`): the gateway beside bare aiohttp proxies (plain
asyncio and uvloop) with a constant nginx upstream, alternating rounds, CPU per call; scaling
with workers and replicas; latency at half load, open loop, also with a 100 ms upstream.
Then the stub/sandbox rows: (a) direct to the upstream, (b) a bare aiohttp pass-through proxy,
(c) nginx proxy_pass, (d) the gateway on memory://, (e) the gateway on redis:// with limits,
audit and metrics; ratios, the latency the gateway adds at half its maximum throughput, and the
in-flight scenario. Progress goes to stderr, the tables to stdout. Every child process is
stopped on exit.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/run.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from bench import compare, gateway, nginx, redis_server
from bench.checks import evidence
from bench.inflight import run_inflight
from bench.loadgen import Result, Target, have_wrk, median_result, run_closed
from bench.openloop import run_open
from bench.procs import Children, free_port, http_ok, print_table
from bench.report import AddedLatency, InflightFigures, Ratio, Row, render
from bench.systems import (
    BODY,
    LOAD_CPU,
    PROXY_CPU,
    UPSTREAM_CPU,
    Running,
    credentialed_body,
    gateway_headers,
    pin,
    start_baseline,
    start_gateway,
    start_nginx,
    start_redis,
    start_sandbox,
    start_stub,
)


@dataclass(frozen=True)
class Options:
    quick: bool
    duration: float
    warmup: float
    connections: int
    upstream: str
    tool: str
    nginx: str | None
    inflight: int
    skip_inflight: bool
    repeat: int
    main: compare.Options | None


def parse(argv: Sequence[str] | None) -> Options:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a few seconds per row, 2k in flight")
    p.add_argument(
        "--duration", type=float, help="seconds per measured run (10; quick 3, main table 2)"
    )
    p.add_argument(
        "--warmup", type=float, help="seconds of discarded load first (2; quick 1, main table 0.5)"
    )
    p.add_argument("--connections", type=int, default=64, help="keep-alive connections (64)")
    p.add_argument("--upstream", choices=["stub", "sandbox"], default="stub")
    p.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    p.add_argument("--nginx", help="nginx binary (default: from PATH; missing = not installed)")
    p.add_argument("--inflight", type=int, help="calls in flight at once (10000; quick 2000)")
    p.add_argument("--skip-inflight", action="store_true")
    p.add_argument("--skip-main", action="store_true", help="without the main table")
    p.add_argument("--rounds", type=int, help="main table: alternating rounds (5; quick 1)")
    p.add_argument(
        "--repeat", type=int, help="rounds of fixed-rate runs, medians kept (3; quick 1)"
    )
    a = p.parse_args(argv)
    tool = a.loadgen if a.loadgen != "auto" else ("wrk" if have_wrk() else "python")
    if tool == "wrk" and not have_wrk():
        p.error("wrk is not installed (apt-get install wrk), use --loadgen python")
    return Options(
        quick=a.quick,
        duration=a.duration or (3.0 if a.quick else 10.0),
        warmup=a.warmup if a.warmup is not None else (1.0 if a.quick else 2.0),
        connections=a.connections,
        upstream=a.upstream,
        tool=tool,
        nginx=a.nginx,
        inflight=a.inflight or (2000 if a.quick else 10000),
        skip_inflight=a.skip_inflight,
        repeat=max(1, a.repeat or (1 if a.quick else 3)),
        main=None
        if a.skip_main
        else compare.Options(
            rounds=a.rounds or (1 if a.quick else 5),
            duration=a.duration or (2.0 if a.quick else 10.0),
            warmup=a.warmup if a.warmup is not None else (0.5 if a.quick else 2.0),
            connections=32,
            tool=tool,
            slow_connections=200 if a.quick else 2000,
        ),
    )


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, opts: Options, kids: Children, tmp: Path) -> None:
        self.opts, self.kids, self.tmp = opts, kids, tmp
        self.load_at_start = load_average()
        self.gateway_missing = gateway.gateway_available()
        self.upstream = start_sandbox(kids) if opts.upstream == "sandbox" else start_stub(kids)
        self.upstream_url = f"http://127.0.0.1:{self.upstream.port}/api"
        # The stub answers anything; the sandbox wants the login when no gateway adds a token.
        self.plain_body = credentialed_body() if opts.upstream == "sandbox" else BODY

    def measure(self, target: Target) -> Result:
        probe(target)
        if self.opts.warmup > 0:
            run_closed(target, self.opts.connections, self.opts.warmup, LOAD_CPU, self.opts.tool)
        return run_closed(
            target, self.opts.connections, self.opts.duration, LOAD_CPU, self.opts.tool
        )

    def direct(self) -> Row:
        say("(a) direct to the upstream (upstream alone on the proxy CPU)")
        pin(self.upstream.proc, PROXY_CPU)
        try:
            result = self.measure(self.upstream.target(gateway_headers(), self.plain_body))
        finally:
            pin(self.upstream.proc, UPSTREAM_CPU)
        return Row("(a)", f"direct to upstream ({self.opts.upstream})", result)

    def baseline(self) -> tuple[Row, Running]:
        say("(b) bare aiohttp pass-through proxy")
        running = start_baseline(self.kids, self.upstream_url)
        return Row(
            "(b)",
            "baseline aiohttp pass-through",
            self.measure(running.target(body=self.plain_body)),
        ), running

    def nginx_row(self) -> Row:
        binary = nginx.find_nginx(self.opts.nginx)
        if binary is None:
            return Row("(c)", "nginx proxy_pass", None, "not installed")
        say("(c) nginx proxy_pass")
        running = start_nginx(self.kids, binary, self.upstream_url, self.tmp)
        try:
            return Row(
                "(c)",
                "nginx proxy_pass (1 worker)",
                self.measure(running.target(body=self.plain_body)),
            )
        finally:
            self.kids.stop(running.proc)

    def gateway_setup(self, store_url: str, full: bool) -> gateway.GatewaySetup:
        audit = self.tmp / "audit.jsonl" if full else None
        return gateway.GatewaySetup(
            free_port(), free_port(), self.upstream_url, store_url, limits=full, audit_file=audit
        )

    def gateway_row(self, key: str, label: str, store: str) -> tuple[Row, Running | None]:
        if self.gateway_missing:
            return Row(key, label, None, f"not available: {self.gateway_missing}"), None
        say(f"{key} {label}")
        full = store != "memory"
        if full:
            binary = redis_server.find_redis()
            if binary is None:
                return Row(key, label, None, "not available: redis-server not installed"), None
            url = f"redis://127.0.0.1:{start_redis(self.kids, binary, self.tmp)}/0"
        else:
            url = "memory://"
        setup = self.gateway_setup(url, full)
        try:
            running, note = start_gateway(self.kids, setup, self.tmp, f"gw-{store}")
        except RuntimeError as exc:
            say(str(exc))
            return Row(key, label, None, _why_not(str(exc))), None
        result = self.measure(running.target(gateway_headers()))
        if setup.audit_file is not None:
            note = "; ".join(filter(None, [note, evidence(running.admin_port, setup.audit_file)]))
        return Row(key, label, result, note), running

    def fixed(self, rate: float, subjects: list[tuple[str, Target]]) -> list[tuple[str, Result]]:
        """Each subject at `rate`, rounds interleaved so drift hits all alike; medians kept."""
        runs: dict[str, list[Result]] = {label: [] for label, _ in subjects}
        conns = self.opts.connections
        for round_ in range(1, self.opts.repeat + 1):
            for label, target in subjects:
                say(f"fixed rate {rate:,.0f} req/s, round {round_}/{self.opts.repeat}: {label}")
                if self.opts.warmup > 0:
                    run_open(target, rate, conns, self.opts.warmup, LOAD_CPU)
                runs[label].append(run_open(target, rate, conns, self.opts.duration, LOAD_CPU))
        return [(label, median_result(results)) for label, results in runs.items()]

    def run(self) -> str:
        rows = [self.direct()]
        base_row, base = self.baseline()
        rows += [base_row, self.nginx_row()]
        mem_row, mem = self.gateway_row("(d)", "gateway, memory:// store", "memory")
        redis_row, red = self.gateway_row("(e)", "gateway, redis:// + limits, audit", "redis")
        rows += [mem_row, redis_row]
        a, b, c, d, e = rows
        ratios = [Ratio("(d)/(b) gateway mem / baseline", d, b),
                  Ratio("(e)/(b) gateway redis / baseline", e, b),
                  Ratio("(d)/(c) gateway mem / nginx", d, c),
                  Ratio("(b)/(a) baseline / direct", b, a)]  # fmt: skip
        rate, fixed, added = self.fixed_phase(d, base, mem, red)
        inflight = [] if self.opts.skip_inflight else self.inflight_phase()
        title = (
            f"oma-gateway bench: {self.opts.connections} connections, {self.opts.duration:g} s "
            f"per run, load generator {self.opts.tool} on CPU {LOAD_CPU}, proxy on CPU {PROXY_CPU}"
            f"\nhost load average (1 min) at start {self.load_at_start}, at end {load_average()}"
            " (above ~1 means something else competes for the two CPUs: figures are then low)"
        )
        return render(rows, ratios, rate, fixed, added, inflight, title)

    def fixed_phase(
        self, d: Row, base: Running, mem: Running | None, red: Running | None
    ) -> tuple[float | None, list[tuple[str, Result]], list[AddedLatency]]:
        if d.result is None or mem is None:
            return None, [], []
        rate = d.result.rps / 2
        subjects = {
            "(a) direct": self.upstream.target(gateway_headers(), self.plain_body),
            "(b) baseline": base.target(body=self.plain_body),
            "(d) gateway memory://": mem.target(gateway_headers()),
        }
        if red is not None:
            subjects["(e) gateway redis://"] = red.target(gateway_headers())
        fixed = self.fixed(rate, list(subjects.items()))
        a, b, d_, *e = (res for _, res in fixed)
        added = [
            AddedLatency("(d) - (a): gateway over direct", rate, d_, a),
            AddedLatency("(d) - (b): gateway over baseline", rate, d_, b),
        ]
        added += (
            [AddedLatency("(e) - (b): redis gateway over baseline", rate, e[0], b)] if e else []
        )
        return rate, fixed, added

    def inflight_phase(self) -> list[InflightFigures]:
        return run_inflight(self.kids, self.tmp, self.opts.inflight, self.gateway_missing, say)


def probe(target: Target) -> None:
    """One call first: load generators count only HTTP errors, so check OMA's `success` too."""
    answer = http_ok(target.url, target.body, target.all_headers())
    if orjson.loads(answer).get("success") is not True:
        raise RuntimeError(f"{target.url} answers {answer[:200]!r}: fix the bench setup")


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def _why_not(error: str) -> str:
    """A gateway that says a feature is not there yet is "not available"; else it FAILED."""
    lines = [ln.strip() for ln in error.splitlines() if ln.strip()]
    for line in reversed(lines):
        if line.startswith("NotImplementedError"):
            return "not available: " + line.partition(":")[2].strip()
    return "FAILED: " + (lines[-1] if lines else "unknown")[:80]


def main_section(kids: Children, tmp: Path, opts: compare.Options) -> str:
    try:
        return compare.run(kids, tmp, opts) + "\n"
    except RuntimeError as exc:  # nginx or redis-server missing: the stub rows still run
        say(str(exc))
        return f"main table: not available: {exc}\n"


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse(argv)

    def build(tmp: Path) -> str:
        with Children(tmp) as kids:
            main_table = "" if opts.main is None else main_section(kids, tmp, opts.main)
        with Children(tmp) as kids:
            return main_table + Bench(opts, kids, tmp).run()

    return print_table("oma-bench-", build)


if __name__ == "__main__":
    sys.exit(main())
