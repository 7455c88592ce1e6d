"""Starting each system under test on loopback, pinned, and waiting until it really serves.

CPU layout on two cores: the load generator and the upstream stub (and redis) share CPU 0, the
proxy under test has CPU 1 to itself. For the direct row the stub moves to CPU 1.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench import gateway, nginx, redis_server
from bench.loadgen import Target
from bench.procs import PYTHON, Children, free_port, http_ok, pinned, wait_http, wait_port

LOAD_CPU = "0"
PROXY_CPU = "1"
UPSTREAM_CPU = "0"
BODY = b'{"user":"alice@demo.example"}'
METHOD = "get_user"


@dataclass(frozen=True)
class Running:
    proc: subprocess.Popen[bytes]
    port: int
    admin_port: int = 0

    def target(self, headers: dict[str, str] | None = None, body: bytes = BODY) -> Target:
        return Target(f"http://127.0.0.1:{self.port}/api/{METHOD}", body, headers or {})


def credentialed_body() -> bytes:
    """BODY with the OMA login in it: what a real upstream needs when no gateway adds a token."""
    login = {"user": gateway.UPSTREAM_USER, "password": gateway.UPSTREAM_PASSWORD}
    return orjson.dumps({**orjson.loads(BODY), "credentials": login})


def gateway_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {gateway.CALLER_KEY}"}


def pin(proc: subprocess.Popen[bytes], cpu: str) -> None:
    """Move a running child to another CPU (only when pinning is possible at all)."""
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(proc.pid, {int(cpu)})


def start_stub(kids: Children, delay: float = 0.0, name: str = "stub") -> Running:
    port = free_port()
    cmd = [PYTHON, "-m", "bench.stub", "--listen", f"127.0.0.1:{port}", "--delay", str(delay)]
    proc = kids.start(name, pinned(cmd, UPSTREAM_CPU))
    wait_port(port, proc=proc)
    return Running(proc, port)


def start_sandbox(kids: Children) -> Running:
    port = free_port()
    proc = kids.start("sandbox", pinned(gateway.sandbox_command(port), UPSTREAM_CPU))
    wait_port(port, proc=proc)
    return Running(proc, port)


def stub_stats(stub: Running) -> dict[str, object]:
    data: dict[str, object] = orjson.loads(http_ok(f"http://127.0.0.1:{stub.port}/__stats"))
    return data


def start_baseline(
    kids: Children,
    upstream_url: str,
    loop: str = "uvloop",
    cpu: str = PROXY_CPU,
    name: str = "baseline",
) -> Running:
    port = free_port()
    cmd = [PYTHON, "-m", "bench.baseline", "--listen", f"127.0.0.1:{port}", "--loop", loop]
    proc = kids.start(name, pinned([*cmd, "--upstream", upstream_url], cpu))
    wait_port(port, proc=proc)
    return Running(proc, port)


def start_nginx(kids: Children, binary: str, upstream_url: str, tmp: Path) -> Running:
    prefix = tmp / "nginx"
    prefix.mkdir(exist_ok=True)
    port = free_port()
    conf = nginx.write_conf(prefix, port, upstream_url)
    proc = kids.start("nginx", pinned(nginx.command(binary, prefix, conf), PROXY_CPU))
    wait_port(port, proc=proc)
    return Running(proc, port)


def start_redis(kids: Children, binary: str, tmp: Path) -> int:
    port = free_port()
    proc = kids.start("redis", pinned(redis_server.command(binary, port, tmp), UPSTREAM_CPU))
    wait_port(port, proc=proc)
    return port


def checked_config(setup: gateway.GatewaySetup, path: Path) -> tuple[Path, str]:
    """Write the config; if the gateway refuses its method_limits, retry without (and say so)."""
    gateway.write_config(setup, path)
    problems = gateway.config_problems(path)
    if problems and setup.limits and setup.method_limits and "method_limits" in problems:
        setup = dataclasses.replace(setup, method_limits=False)
        gateway.write_config(setup, path)
        if not gateway.config_problems(path):
            return path, "method_limits refused by check-config, ran without"
    if problems:
        raise RuntimeError(f"the gateway refuses the bench config {path}:\n{problems}")
    return path, ""


def launch_gateway(
    kids: Children,
    setup: gateway.GatewaySetup,
    tmp: Path,
    name: str,
    cpu: str | None = PROXY_CPU,
    env: dict[str, str] | None = None,
) -> tuple[Running, str]:
    """Start `oma-gateway serve` without waiting for it (`gateway_ready` waits)."""
    conf, note = checked_config(setup, tmp / f"{name}.yaml")
    cmd = pinned(gateway.command(conf, setup.workers), cpu)
    proc = kids.start(name, cmd, {**gateway.environment(), **(env or {})})
    return Running(proc, setup.listen_port, setup.admin_port), note


def gateway_ready(kids: Children, running: Running, name: str, warm: bool = True) -> None:
    """Ready once /healthz answers, the listener accepts and (if `warm`) one call succeeds."""
    proc = running.proc
    try:
        wait_http(f"http://127.0.0.1:{running.admin_port}/healthz", timeout=30, proc=proc)
        wait_port(running.port, timeout=30, proc=proc)  # workers listen after the supervisor
        if warm:
            target = running.target(gateway_headers())
            answer = http_ok(target.url, target.body, target.all_headers())
            if orjson.loads(answer).get("success") is not True:
                raise RuntimeError(f"gateway answered {answer[:200]!r}")
    except Exception as exc:
        raise RuntimeError(f"{name} not ready: {exc}\n{kids.log_tail(name)}") from exc


def start_gateway(
    kids: Children,
    setup: gateway.GatewaySetup,
    tmp: Path,
    name: str,
    warm: bool = True,
    cpu: str | None = PROXY_CPU,
    env: dict[str, str] | None = None,
) -> tuple[Running, str]:
    """Start `oma-gateway serve` and wait until it serves."""
    running, note = launch_gateway(kids, setup, tmp, name, cpu, env)
    gateway_ready(kids, running, name, warm)
    return running, note
