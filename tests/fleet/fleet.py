"""Real processes for fleet tests: the sandbox upstream and N gateway replicas on one Redis."""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from gateway.secrets import digest

from ..support import KEYS, OMA_PASSWORD, OMA_USER, ROOT, free_port, wait_for_port

STORE_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()


def _spawn(*args: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GATEWAY_STORE_KEY": STORE_KEY, "OMA_PASSWORD": OMA_PASSWORD}
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", "gateway", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def sandbox_process(workdir: Path) -> Iterator[str]:
    """`oma-gateway sandbox` as a real process; yields its base URL (without /api)."""
    port = free_port()
    proc = _spawn("sandbox", "--listen", f"127.0.0.1:{port}", log=workdir / "sandbox.log")
    try:
        wait_for_port(port, timeout=20)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


def gateway_config(sandbox: str, redis_url: str, **store: Any) -> dict[str, Any]:
    limited = {"rate": "5/s", "burst": 10}
    return {
        "drain_delay": "0s",  # no balancer to leave: a replica stops at once (these test no drain)
        "store": {"url": redis_url, "encryption_key_env": "GATEWAY_STORE_KEY", **store},
        "upstreams": {
            "oma": {
                "url": f"{sandbox}/api",
                "user": OMA_USER,
                "password_env": "OMA_PASSWORD",
                "token_lifetime": "1h",
                "timeout": "5s",
            }
        },
        "callers": {
            "billing": {"keys": [digest(KEYS["billing"])], "allow": ["echo"]},
            "readonly": {
                "keys": [digest(KEYS["readonly"])],
                "allow": ["echo"],
                "rate_limit": limited,
            },
        },
    }


@dataclass
class Replica:
    url: str
    admin: str
    proc: subprocess.Popen[bytes]


def _start_replica(config: dict[str, Any], workdir: Path, name: str) -> Replica:
    port, admin = free_port(), free_port()
    path = workdir / f"gateway-{name}.yaml"
    listen = {"listen": f"127.0.0.1:{port}", "admin_listen": f"127.0.0.1:{admin}"}
    path.write_text(yaml.safe_dump({**config, **listen}))
    # One worker each: the replicas are what the tests count (and 2 cores start 3
    # processes far faster than 3 supervisors with their workers).
    args = ("serve", "--config", str(path), "--workers", "1")
    proc = _spawn(*args, log=workdir / f"gateway-{name}.log")
    return Replica(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin}", proc)


def _wait_serving(replica: Replica) -> None:
    wait_for_port(int(replica.url.rsplit(":", 1)[1]), timeout=30)


@contextlib.contextmanager
def gateway_fleet(config: dict[str, Any], workdir: Path, count: int = 3) -> Iterator[list[Replica]]:
    """`count` gateway processes started together, each with its own ports, one shared store."""
    replicas: list[Replica] = []
    try:
        for i in range(count):
            replicas.append(_start_replica(config, workdir, str(i)))
        for replica in replicas:
            _wait_serving(replica)
        yield replicas
    finally:
        for replica in replicas:
            _stop(replica.proc)


@contextlib.contextmanager
def gateway_replica(config: dict[str, Any], workdir: Path, name: str) -> Iterator[Replica]:
    """One more gateway process (its own config, e.g. its own password), on the same store."""
    replica = _start_replica(config, workdir, name)
    try:
        _wait_serving(replica)
        yield replica
    finally:
        _stop(replica.proc)


async def call(
    http: aiohttp.ClientSession, replica: Replica, caller: str = "billing"
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {KEYS[caller]}"}
    async with http.post(f"{replica.url}/api/echo", json={}, headers=headers) as response:
        return response.status, await response.json()


async def sandbox_requests(http: aiohttp.ClientSession, sandbox: str) -> dict[str, Any]:
    async with http.get(f"{sandbox}/_sandbox/requests") as response:
        body: dict[str, Any] = await response.json()
        return body


async def set_faults(http: aiohttp.ClientSession, sandbox: str, faults: dict[str, Any]) -> None:
    async with http.post(f"{sandbox}/_sandbox/faults", json=faults) as response:
        assert response.status == 200, await response.text()


async def readyz(http: aiohttp.ClientSession, replica: Replica) -> tuple[int, dict[str, Any]]:
    async with http.get(f"{replica.admin}/readyz") as response:
        return response.status, await response.json()
