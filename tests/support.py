"""Shared test helpers: settings builders, keys, and real processes (redis-server, the CLI)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.secrets import Secret, digest
from gateway.settings import CallerKey, CallerSettings, RateSpec, Settings, UpstreamSettings
from gateway.store import StoredToken
from gateway.store.memory import MemorySessions

#: The gateway (or sandbox) served over real HTTP by pytest-aiohttp.
Client = TestClient[web.Request, web.Application]

ROOT = Path(__file__).resolve().parent.parent
OMA_USER = "admin@demo.adm"
OMA_PASSWORD = "demo-password"
KEYS = {
    "billing": "omagw_billing_key_0001_for_tests_only_xxxxxxxx",
    "support": "omagw_support_key_0002_for_tests_only_xxxxxxxx",
    "readonly": "omagw_readonly_key_0003_for_tests_only_xxxxxxx",
}


def bearer(caller: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[caller]}"}


def upstream(url: str, **overrides: Any) -> UpstreamSettings:
    base = UpstreamSettings(
        name="oma",
        url=url,
        user=OMA_USER,
        password=Secret(OMA_PASSWORD),
        client="acme-gw",
        token_lifetime=3600.0,
        timeout=2.0,
    )
    return replace(base, **overrides)


def caller(name: str, allow: tuple[str, ...] = ("*",), **overrides: Any) -> CallerSettings:
    base = CallerSettings(
        name=name, keys=(CallerKey(digest(KEYS[name])),), upstream="oma", allow=allow
    )
    return replace(base, **overrides)


def make_settings(
    url: str,
    callers: Mapping[str, CallerSettings] | None = None,
    **overrides: Any,
) -> Settings:
    default_callers = {
        "billing": caller("billing", allow=("get_*", "search_*", "change_user", "echo")),
        "support": caller("support", allow=("*",), deny=("delete_*",)),
        "readonly": caller("readonly", allow=("get_user",), rate_limit=RateSpec(5.0, 3)),
    }
    return replace(
        Settings(upstreams={"oma": upstream(url)}, callers=callers or default_callers), **overrides
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def redis_server(
    port: int | None = None, options: Sequence[str] = (), tls: bool = False
) -> Iterator[str]:
    """A real, throwaway redis-server on a free loopback port; yields its URL. `options` are
    more of redis-server's own (a password, TLS files); with `tls` it listens only for TLS."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is required (Debian package redis-server)"
    port = port or free_port()
    listen = ["--port", "0", "--tls-port", str(port)] if tls else ["--port", str(port)]
    proc = subprocess.Popen(  # noqa: S603 (a fixed binary and our own arguments)
        [binary, *listen, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"{'rediss' if tls else 'redis'}://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run `oma-gateway ARGS` as a real process."""
    return subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


class FailingFirst(MemorySessions):
    """Session storage that fails unexpectedly for its first `failures` reads: the token
    refresher's worst day (an error that no path expects)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def load(self, upstream: str) -> StoredToken | None:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("the store answered nonsense")
        return await super().load(upstream)
