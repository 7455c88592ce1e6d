"""A real gateway process (bundled sandbox upstream) for the hostile-input tests, and the raw
sockets an attacker would use against it."""

from __future__ import annotations

import contextlib
import http.client
import json
import resource
import socket
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from ..ops.procs import Ports, Proc, config, gateway_process, wait_ready, write_config
from ..support import KEYS, OMA_PASSWORD

#: What must never appear in any output line of the process.
SECRETS = (*KEYS.values(), OMA_PASSWORD)
BODY = b'{"user": "alice@demo.example"}'


@dataclass
class Gateway:
    proc: Proc
    ports: Ports

    @property
    def pid(self) -> int:
        return self.proc.popen.pid

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    def call(
        self, method: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.ports.listen, timeout=10)
        try:
            conn.request("POST", f"/api/{method}", body=body, headers=dict(headers or {}))
            answer = conn.getresponse()
            return answer.status, answer.read()
        finally:
            conn.close()

    def metric(self, name: str) -> float:
        """One unlabelled sample of the admin port's /metrics exposition."""
        url = f"{self.ports.admin_url}/metrics"
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (loopback)
            text = answer.read().decode()
        families = text_string_to_metric_families(text)
        return next(s.value for f in families for s in f.samples if s.name == name)

    def session_tokens(self) -> set[str]:
        """The OMA session tokens the gateway has sent its bundled sandbox so far (read from the
        sandbox's own record of the calls it received)."""
        line = next(x for x in self.proc.lines if '"sandbox_started"' in x)
        base = json.loads(line)["url"].removesuffix("/api")
        with urllib.request.urlopen(f"{base}/_sandbox/requests", timeout=10) as answer:  # noqa: S310
            recorded = json.loads(answer.read())["requests"]
        return {r["token"] for r in recorded if r["auth"] == "token"}

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.ports.listen), timeout=10)

    def assert_output_clean(self) -> None:
        """Every line one JSON object (stderr is merged in), no secret on any of them."""
        for line in list(self.proc.lines):
            assert not any(secret in line for secret in SECRETS), line
            assert isinstance(json.loads(line), dict), line


@contextlib.contextmanager
def gateway(tmp_path: Path, fd_limit: int | None = None, **top: Any) -> Iterator[Gateway]:
    ports = Ports()
    document = config("sandbox:", ports, {name: [name] for name in KEYS}, **top)
    path = write_config(tmp_path / "gateway.yaml", document)
    with gateway_process("serve", "--config", str(path)) as proc:
        if fd_limit is not None:  # before the process reads it: imports take far longer
            resource.prlimit(proc.popen.pid, resource.RLIMIT_NOFILE, (fd_limit, fd_limit))
        wait_ready(ports.admin_url)
        yield Gateway(proc, ports)


def request_head(method: str = "get_user", length: int = 2, key: str | None = "billing") -> bytes:
    """A request's head; `key=None` sends no key header (the key would be in the body)."""
    authorization = "" if key is None else f"Authorization: Bearer {KEYS.get(key, key)}\r\n"
    return (
        f"POST /api/{method} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        f"{authorization}Content-Length: {length}\r\n\r\n"
    ).encode()


def stalled(gw: Gateway, count: int, payload: bytes) -> list[socket.socket]:
    """`count` connections that each send `payload` and then nothing more."""
    socks = []
    for _ in range(count):
        sock = gw.connect()
        with contextlib.suppress(OSError):  # one the gateway refused may be closed meanwhile
            sock.sendall(payload)
        socks.append(sock)
    return socks


def latency(gw: Gateway) -> float:
    """Seconds a legitimate call (header key) takes to be answered 200."""
    start = time.perf_counter()
    status, _ = gw.call("get_user", BODY, {"Authorization": "Bearer " + KEYS["billing"]})
    assert status == 200
    return time.perf_counter() - start


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the peer closed `sock` (reading and discarding), None if it stayed open."""
    start = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - start < seconds:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - start
        except TimeoutError:
            continue
        except ConnectionError:
            return time.monotonic() - start
    return None
