"""Real processes for the compatibility suite: one redis-server, the sandbox as OMA, two gateway
replicas sharing that Redis (restartable), and a TLS gateway; plus the Debian clients that
drive them (perl, php with curl, ruby, curl) running the scripts in `clients/`.

Everything is module-scoped: the processes start once per module, which keeps the suite fast."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..auth.certs import CertAuthority
from ..ops.procs import (
    Ports,
    Proc,
    config,
    gateway_process,
    sandbox_process,
    wait_ready,
    write_config,
)
from ..support import redis_server, wait_for_port

CLIENTS = Path(__file__).resolve().parent / "clients"
STORE_KEY = {"GATEWAY_STORE_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode()}


def run_client(program: str, script: str, *args: str) -> dict[str, Any]:
    """Run one of `clients/` with a real interpreter from Debian; its last line is JSON."""
    binary = shutil.which(program)
    assert binary, f"{program} is required (scripts/test installs it from Debian)"
    done = subprocess.run(  # noqa: S603 (a fixed interpreter, our own script and arguments)
        [binary, str(CLIENTS / script), *args], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


@dataclass
class Replica:
    """One `oma-gateway serve` process; `restart` kills it outright and starts it again."""

    config_file: Path
    ports: Ports = field(default_factory=Ports)
    proc: Proc | None = None
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def url(self) -> str:
        return self.ports.url

    def start(self) -> None:
        listen, admin = f"127.0.0.1:{self.ports.listen}", f"127.0.0.1:{self.ports.admin}"
        args = ("serve", "--config", str(self.config_file), "--listen", listen,
                "--admin-listen", admin, "--workers", "1")  # fmt: skip
        self.proc = self._stack.enter_context(gateway_process(*args, env=STORE_KEY))
        wait_ready(self.ports.admin_url)

    def stop(self) -> None:
        self._stack.close()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def audit(self) -> list[dict[str, Any]]:
        """The audit records printed so far. The writer thread prints a call's record after
        its answer, so a test that needs one waits for it with `record` or `records` first."""
        assert self.proc is not None
        lines = [line for line in list(self.proc.lines) if line.startswith("{")]
        return [r for r in map(json.loads, lines) if r.get("event") == "audit"]

    def records(self, method: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The records of `method`, once at least `count` of them have been printed."""
        deadline = time.monotonic() + timeout
        while len(found := [r for r in self.audit() if r["method"] == method]) < count:
            assert time.monotonic() < deadline, f"{count} {method} records not printed"
            time.sleep(0.05)
        return found

    def record(self, request_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The audit record of the call answered with `request_id`, once printed."""
        assert self.proc is not None
        self.proc.wait_for(f'"request_id":"{request_id}"', timeout=timeout)
        (found,) = [r for r in self.audit() if r["request_id"] == request_id]
        return found


def callers_document(oma_url: str, ports: Ports, **top: Any) -> dict[str, Any]:
    """billing may call anything; readonly only get_user; support has a budget of one call."""
    document = config(oma_url, ports, {n: [n] for n in ("billing", "readonly", "support")}, **top)
    document["callers"]["readonly"]["allow"] = ["get_user"]
    document["callers"]["support"]["rate_limit"] = {"rate": "1/h", "burst": 1}
    return document


@pytest.fixture(scope="module")
def oma_url() -> Iterator[str]:
    with sandbox_process() as url:
        yield url


@pytest.fixture(scope="module")
def replicas(oma_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Replica]]:
    """Two replicas of one config, their tokens and limits in one real redis-server."""
    root = tmp_path_factory.mktemp("replicas")
    with redis_server() as redis_url:
        store = {"url": redis_url, "encryption_key_env": "GATEWAY_STORE_KEY"}
        path = write_config(root / "gateway.yaml", callers_document(oma_url, Ports(), store=store))
        fleet = [Replica(path), Replica(path)]
        try:
            for replica in fleet:
                replica.start()
            yield fleet
        finally:
            for replica in fleet:
                replica.stop()


@pytest.fixture(scope="module")
def tls_gateway(oma_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    """A gateway whose callers' port speaks HTTPS only, with a certificate made here."""
    root = tmp_path_factory.mktemp("tls")
    server = CertAuthority(root).server()
    replica = Replica(root / "gateway.yaml")
    tls = {"cert_file": str(server.cert), "key_file": str(server.key)}
    write_config(replica.config_file, callers_document(oma_url, replica.ports, tls=tls))
    try:
        replica.start()
        wait_for_port(replica.ports.listen)
        yield replica
    finally:
        replica.stop()
