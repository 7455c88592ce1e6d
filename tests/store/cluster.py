"""A real, throwaway 3-master Redis Cluster on loopback ports (redis-server x3 + redis-cli)."""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import redis

from ..support import wait_for_port


@contextlib.contextmanager
def redis_cluster(masters: int = 3) -> Iterator[str]:
    """Yields `redis+cluster://127.0.0.1:PORT` once every slot is served."""
    ports = _cluster_ports(masters)
    with tempfile.TemporaryDirectory() as workdir, contextlib.ExitStack() as stack:
        for port in ports:
            stack.enter_context(_node(port, workdir))
        _create(ports)
        yield f"redis+cluster://127.0.0.1:{ports[0]}"


@contextlib.contextmanager
def _node(port: int, workdir: str) -> Iterator[None]:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is required (Debian package redis-server)"
    proc = subprocess.Popen(  # noqa: S603 (a fixed binary and our own arguments)
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
         "--cluster-config-file", f"nodes-{port}.conf", "--dir", workdir,
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _create(ports: list[int]) -> None:
    binary = shutil.which("redis-cli")
    assert binary, "redis-cli is required (Debian package redis-tools)"
    nodes = [f"127.0.0.1:{port}" for port in ports]
    subprocess.run(  # noqa: S603 (a fixed binary and our own arguments)
        [binary, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
        check=True,
        capture_output=True,
        timeout=30,
    )
    deadline = time.monotonic() + 15
    while not all(_cluster_ok(port) for port in ports):
        assert time.monotonic() < deadline, "the cluster did not converge"
        time.sleep(0.1)


def _cluster_ok(port: int) -> bool:
    with redis.Redis(port=port) as client:
        return bool(client.cluster("INFO").get("cluster_state") == "ok")


def _cluster_ports(count: int) -> list[int]:
    """Free ports whose cluster bus port (port + 10000) is free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randrange(20000, 40000)
        if port not in ports and _free(port) and _free(port + 10000):
            ports.append(port)
    return ports


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
