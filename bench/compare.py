"""The main table: the gateway beside bare aiohttp proxies, measured side by side.

    python -m bench.compare [--quick] [--rounds N] [--duration S] [--connections N]

Setup (what a user comparing proxies measures): nginx answers every call from memory (a
zero-cost upstream) and wrk drives the load, both on CPU 1; the proxy under test has CPU 0 to
itself. The subjects run in alternating rounds (bare asyncio, bare uvloop, gateway memory://,
gateway redis://, then again), so drift on a shared machine hits all alike; each figure is the
median of the rounds, req/s with its spread (lowest-highest round). Beside req/s, the CPU the
proxy spent per call (its process tree's utime + stime from /proc over the run, divided by the
calls it answered): the figure that survives a noisy machine.

Then scaling (`--workers 2` against one worker, and three replicas on one Redis, unpinned) and
latency at half of the gateway's maximum, open loop, with the constant upstream and with one
that answers after 100 ms. Progress goes to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/compare.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import constant, nginx, redis_server
from bench.cpu import tree_cpu_seconds
from bench.gateway import GatewaySetup
from bench.loadgen import Result, Target, have_wrk, run_closed
from bench.openloop import run_open
from bench.procs import Children, free_port, http_ok, pinned, print_table, wait_port
from bench.systems import (
    Running,
    gateway_headers,
    gateway_ready,
    launch_gateway,
    start_baseline,
    start_stub,
)

PROXY_CPU = "0"  # the proxy under test, alone
LOAD_CPU = "1"  # wrk, the nginx upstream, redis
WIDTH = 100


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Options:
    rounds: int
    duration: float
    warmup: float
    connections: int
    tool: str
    scaling: bool = True
    latency: bool = True
    slow_connections: int = 2000  # offered to the 100 ms upstream rows (quick: 200)


@dataclass
class Subject:
    """One proxy under test: how to load it, and the processes whose CPU it spends."""

    label: str
    targets: list[Target]
    procs: list[subprocess.Popen[bytes]]
    runs: list[tuple[Result, float]] = field(default_factory=list)  # (result, CPU µs per call)

    def measure(self, opts: Options, cpus: str | None) -> None:
        if opts.warmup > 0:
            _load(self.targets, opts.connections, opts.warmup, cpus, opts.tool)
        before = self.cpu_seconds()
        result = _load(self.targets, opts.connections, opts.duration, cpus, opts.tool)
        spent = self.cpu_seconds() - before
        self.runs.append((result, spent / max(result.requests, 1) * 1e6))

    def cpu_seconds(self) -> float:
        return sum(tree_cpu_seconds(p.pid) for p in self.procs)

    def stop(self, kids: Children) -> None:
        for proc in self.procs:
            kids.stop(proc)

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r, _ in self.runs) if self.runs else 0.0

    @property
    def cpu_us(self) -> float:
        return statistics.median(c for _, c in self.runs) if self.runs else 0.0

    def line(self) -> str:
        if not self.runs:
            return f"  {self.label:<40} not measured"
        results = [r for r, _ in self.runs]
        spread = f"{min(r.rps for r in results):,.0f}-{max(r.rps for r in results):,.0f}"
        p50 = statistics.median(r.p50_ms for r in results)
        p99 = statistics.median(r.p99_ms for r in results)
        errors = sum(r.errors for r in results)
        return (
            f"  {self.label:<40} {self.rps:>8,.0f} {spread:>15} {p50:>7.2f} {p99:>7.2f} "
            f"{self.cpu_us:>8.0f} {errors:>6}"
        )


def _load(
    targets: list[Target], connections: int, duration: float, cpus: str | None, tool: str
) -> Result:
    """Closed-loop load on every target at once (connections split among them), summed."""
    if len(targets) == 1:
        return run_closed(targets[0], connections, duration, cpus, tool)
    share = max(1, connections // len(targets))
    with ThreadPoolExecutor(len(targets)) as pool:
        results = list(pool.map(lambda t: run_closed(t, share, duration, cpus, tool), targets))
    return Result(
        rps=sum(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=max(r.p99_ms for r in results),
        requests=sum(r.requests for r in results),
        errors=sum(r.errors for r in results),
        tool=results[0].tool,
    )


def ratio(top: Subject, bottom: Subject, target: str = "") -> str:
    if not top.runs or not bottom.runs or not bottom.rps or not top.cpu_us:
        return f"  {top.label} / {bottom.label}: n/a"
    label = f"{top.label} / {bottom.label}"
    rps, cpu = top.rps / bottom.rps, bottom.cpu_us / top.cpu_us
    return f"  {label:<62} {rps:>6.2f} {cpu:>8.2f}  {target}"


class Systems:
    """Every process the tables need, started once on loopback, stopped by `Children`."""

    def __init__(self, kids: Children, tmp: Path) -> None:
        self.kids, self.tmp = kids, tmp
        binary = nginx.find_nginx()
        if binary is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx)")
        port = free_port()
        conf = constant.write_conf(tmp / "constant", port)
        cmd = pinned(nginx.command(binary, tmp / "constant", conf), LOAD_CPU)
        wait_port(port, proc=kids.start("constant-upstream", cmd))
        self.upstream_url = f"http://127.0.0.1:{port}/api"
        redis = redis_server.find_redis()
        if redis is None:
            raise RuntimeError("redis-server is not installed")
        redis_port = free_port()
        proc = kids.start("redis", pinned(redis_server.command(redis, redis_port, tmp), LOAD_CPU))
        wait_port(redis_port, proc=proc)
        self.redis_url = f"redis://127.0.0.1:{redis_port}/0"

    def baseline(self, loop: str) -> Subject:
        running = start_baseline(self.kids, self.upstream_url, loop, PROXY_CPU, name=f"bare-{loop}")
        return self._subject(f"bare aiohttp, {loop}", [running])

    def setup(self, store: str, upstream_url: str | None = None, workers: int = 1) -> GatewaySetup:
        full = store == "redis"
        return GatewaySetup(
            free_port(),
            free_port(),
            upstream_url or self.upstream_url,
            self.redis_url if full else "memory://",
            limits=full,
            audit_file=self.tmp / f"audit-{store}-{free_port()}.jsonl",
            workers=workers,
        )

    def gateway(
        self,
        label: str,
        setups: list[GatewaySetup],
        cpu: str | None = PROXY_CPU,
        env: dict[str, str] | None = None,
    ) -> Subject:
        return self.gateways([(label, setups)], cpu, env)[0]

    def gateways(
        self,
        specs: list[tuple[str, list[GatewaySetup]]],
        cpu: str | None = PROXY_CPU,
        env: dict[str, str] | None = None,
    ) -> list[Subject]:
        """One subject per (label, setups), every process launched first: each takes seconds
        to come up, so they come up together."""
        launched = [
            [
                launch_gateway(self.kids, s, self.tmp, f"gw-{s.listen_port}", cpu=cpu, env=env)[0]
                for s in setups
            ]
            for _, setups in specs
        ]
        for group in launched:
            for running in group:
                gateway_ready(self.kids, running, f"gw-{running.port}")
        return [
            self._subject(label, group, gateway_headers())
            for (label, _), group in zip(specs, launched, strict=True)
        ]

    def _subject(
        self, label: str, running: list[Running], headers: dict[str, str] | None = None
    ) -> Subject:
        targets = [r.target(headers) for r in running]
        for target in targets:
            http_ok(target.url, target.body, target.all_headers())  # serves before it is loaded
        return Subject(label, targets, [r.proc for r in running])


def alternate(subjects: list[Subject], opts: Options, cpus: str | None, what: str) -> None:
    for round_ in range(1, opts.rounds + 1):
        for subject in subjects:
            say(f"{what}, round {round_}/{opts.rounds}: {subject.label}")
            subject.measure(opts, cpus)


def header(title: str) -> list[str]:
    return [
        title,
        f"  {'subject':<40} {'req/s':>8} {'spread':>15} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'CPU µs':>8} {'errors':>6}",
    ]


@dataclass
class Main:
    """The main table's subjects: the latency section loads them again (no new processes)."""

    asyncio: Subject
    uvloop: Subject
    memory: Subject
    redis: Subject

    @classmethod
    def start(cls, systems: Systems) -> Main:
        memory, redis = systems.gateways(
            [
                ("gateway memory://, audit file", [systems.setup("memory")]),
                ("gateway redis:// + limits, audit file", [systems.setup("redis")]),
            ]
        )
        return cls(systems.baseline("asyncio"), systems.baseline("uvloop"), memory, redis)

    def all(self) -> list[Subject]:
        return [self.asyncio, self.uvloop, self.memory, self.redis]


def main_table(systems: Systems, opts: Options, main: Main) -> list[str]:
    """The four subjects side by side, in alternating rounds."""
    asyncio_, uvloop_, memory, redis = subjects = main.all()
    alternate(subjects, opts, LOAD_CPU, "main table")
    out = header(
        f"main table: constant nginx upstream and wrk on CPU {LOAD_CPU}, the proxy alone on CPU "
        f"{PROXY_CPU}, {opts.connections} connections, {opts.rounds} alternating rounds of "
        f"{opts.duration:g} s (medians; CPU µs per call from /proc)"
    )
    out += [s.line() for s in subjects]
    ratios = "ratios (median req/s; CPU per call: baseline's / subject's)"
    out.append(f"  {ratios:<62} {'req/s':>6} {'CPU':>8}")
    out += [
        ratio(memory, asyncio_, "target >= 0.8"),
        ratio(redis, asyncio_, "target >= 0.7"),
        ratio(memory, uvloop_),
        ratio(redis, uvloop_),
        ratio(uvloop_, asyncio_, "(what uvloop alone buys)"),
    ]
    return out


def scaling(systems: Systems, opts: Options) -> list[str]:
    one, two, three = subjects = systems.gateways(
        [
            ("1 replica, --workers 1", [systems.setup("redis")]),
            ("1 replica, --workers 2", [systems.setup("redis", workers=2)]),
            ("3 replicas x --workers 1, one Redis", [systems.setup("redis") for _ in range(3)]),
        ],
        cpu=None,
    )
    alternate(subjects, opts, LOAD_CPU, "scaling")
    out = header(
        "scaling: gateway redis:// + limits, audit file; unpinned (wrk, nginx and redis stay "
        f"on CPU {LOAD_CPU})"
    )
    out += [s.line() for s in subjects]
    out.append(f"  {'against one worker':<62} {'req/s':>6} {'CPU':>8}")
    out += [ratio(two, one, "target >= 1.7"), ratio(three, one)]
    for subject in subjects:
        subject.stop(systems.kids)
    return out


def latency(systems: Systems, opts: Options, main: Main) -> list[str]:
    """Open loop at half the gateway's maximum: the constant upstream, then a 100 ms one."""
    rate = main.memory.rps / 2
    slow = start_stub(systems.kids, delay=0.1, name="stub-100ms")
    slow_url = f"http://127.0.0.1:{slow.port}/api"
    runs = {
        "bare aiohttp, asyncio": main.asyncio,
        "gateway memory://": main.memory,
        "gateway redis:// + limits": main.redis,
        "bare aiohttp, asyncio, 100 ms upstream": _slow_baseline(systems, slow_url),
        "gateway memory://, 100 ms upstream": systems.gateway(
            "gw", [systems.setup("memory", slow_url)]
        ),
    }
    slow_connections = opts.slow_connections
    results: dict[str, list[Result]] = {k: [] for k in runs}
    for round_ in range(1, opts.rounds + 1):
        for label, subject in runs.items():
            conns = slow_connections if "100 ms" in label else opts.connections
            say(f"open loop {rate:,.0f} req/s, round {round_}/{opts.rounds}: {label}")
            if opts.warmup > 0:  # a fresh process's first seconds (imports, pools) are not it
                run_open(subject.targets[0], rate, conns, opts.warmup, LOAD_CPU)
            results[label].append(
                run_open(subject.targets[0], rate, conns, opts.duration, LOAD_CPU)
            )
    med = {k: _median(v) for k, v in results.items()}
    out = [
        f"latency at half the gateway's maximum: {rate:,.0f} req/s open loop (no coordinated "
        f"omission), {opts.rounds} rounds; 100 ms rows offer {slow_connections} connections",
        f"  {'subject':<48} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}",
    ]
    out += [f"  {k:<48} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.errors:>7}" for k, r in med.items()]
    base, slow_base = med["bare aiohttp, asyncio"], med["bare aiohttp, asyncio, 100 ms upstream"]
    out.append(f"  {'added over the bare proxy':<48} {'p50 ms':>8} {'p99 ms':>8}")
    for label, ref in (("gateway memory://", base), ("gateway redis:// + limits", base),
                       ("gateway memory://, 100 ms upstream", slow_base)):  # fmt: skip
        r = med[label]
        target = "target p50 <= 0.5, p99 <= 2"
        out.append(
            f"  {label:<48} {r.p50_ms - ref.p50_ms:>8.2f} {r.p99_ms - ref.p99_ms:>8.2f}  {target}"
        )
    return out


def _slow_baseline(systems: Systems, url: str) -> Subject:
    running = start_baseline(systems.kids, url, "asyncio", PROXY_CPU, name="bare-slow")
    return systems._subject("bare slow", [running])


def _median(results: list[Result]) -> Result:
    return replace(
        results[0],
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        errors=sum(r.errors for r in results),
    )


def run(kids: Children, tmp: Path, opts: Options) -> str:
    systems = Systems(kids, tmp)
    main = Main.start(systems)
    sections = [main_table(systems, opts, main)]
    if opts.latency:
        sections.append(latency(systems, opts, main))
    for subject in main.all():
        subject.stop(kids)
    if opts.scaling:
        sections.insert(1, scaling(systems, opts))
    rule, out = "-" * WIDTH, ["=" * WIDTH]
    for section in sections:
        out += [*section, rule]
    out[-1] = "=" * WIDTH
    return "\n".join(out)


def parse(argv: Sequence[str] | None) -> Options:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="one round of 2 s (what CI runs)")
    p.add_argument("--rounds", type=int, help="alternating rounds (5; quick 1)")
    p.add_argument("--duration", type=float, help="seconds per measured run (10; quick 2)")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--no-scaling", action="store_true")
    p.add_argument("--no-latency", action="store_true")
    a = p.parse_args(argv)
    if not have_wrk():
        p.error("wrk is not installed (apt-get install wrk)")
    return Options(
        rounds=a.rounds or (1 if a.quick else 5),
        duration=a.duration or (2.0 if a.quick else 10.0),
        warmup=0.5 if a.quick else 2.0,
        connections=a.connections,
        tool="wrk",
        scaling=not a.no_scaling,
        latency=not a.no_latency,
        slow_connections=200 if a.quick else 2000,
    )


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse(argv)

    def build(tmp: Path) -> str:
        with Children(tmp) as kids:
            return run(kids, tmp, opts)

    return print_table("oma-compare-", build)


if __name__ == "__main__":
    sys.exit(main())
