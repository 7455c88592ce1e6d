"""The gateway under test, run as a real process from a generated config (see CONTRACT.md)."""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.procs import REPO

CALLER_KEY = "bench-" + secrets.token_urlsafe(24)
UPSTREAM_USER = "gateway@bench.adm"
UPSTREAM_PASSWORD = "bench-" + secrets.token_urlsafe(12)
PASSWORD_ENV = "BENCH_OMA_PASSWORD"
STORE_KEY_ENV = "BENCH_GATEWAY_STORE_KEY"
STORE_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()
# A limit far above anything two cores can push, so it is checked on every call but never denies.
HIGH_LIMIT = {"rate": "1000000/s", "burst": 1000000}


def gateway_binary() -> Path:
    return REPO / ".venv" / "bin" / "oma-gateway"


@functools.cache
def serve_help() -> str | None:
    """`oma-gateway serve --help`, or None when the gateway cannot run here."""
    binary = gateway_binary()
    if not (REPO / "gateway" / "cli.py").is_file() or not binary.is_file():
        return None
    probe = subprocess.run(  # noqa: S603 - our own venv's console script
        [str(binary), "serve", "--help"], capture_output=True, text=True, timeout=30, check=False
    )
    return probe.stdout if probe.returncode == 0 else None


def gateway_available() -> str | None:
    """None when `oma-gateway serve` can run here, else why not."""
    if not (REPO / "gateway" / "cli.py").is_file():
        return "gateway not built yet"
    return None if serve_help() is not None else "oma-gateway serve unavailable"


@dataclass(frozen=True)
class GatewaySetup:
    listen_port: int
    admin_port: int
    upstream_url: str
    store_url: str = "memory://"
    limits: bool = False
    method_limits: bool = True
    audit_file: Path | None = None
    timeout: str = "20s"
    workers: int = 1
    #: Callers' connections the gateway holds at once (its default, 4096, refuses the rest).
    max_connections: int | None = None


def config(setup: GatewaySetup) -> dict[str, object]:
    caller: dict[str, object] = {
        "keys": ["sha256:" + hashlib.sha256(CALLER_KEY.encode()).hexdigest()],
        "upstream": "bench",
        "allow": ["get_user", "get_domain", "search_*"],
    }
    if setup.limits:
        caller["rate_limit"] = dict(HIGH_LIMIT)
    if setup.limits and setup.method_limits:
        caller["method_limits"] = {"get_user": dict(HIGH_LIMIT)}
    conf: dict[str, object] = {
        # No load balancer to take the replica out first: a stopped bench gateway exits at once.
        "drain_delay": "0s",
        "listen": f"127.0.0.1:{setup.listen_port}",
        "admin_listen": f"127.0.0.1:{setup.admin_port}",
        "store": {"url": setup.store_url, "encryption_key_env": STORE_KEY_ENV},
        "upstreams": {
            "bench": {
                "url": setup.upstream_url,
                "user": UPSTREAM_USER,
                "password_env": PASSWORD_ENV,
                "client": "oma-gateway-bench",
                "token_lifetime": "3h",
                "timeout": setup.timeout,
                # The bench's one caller stands for every client of the load: the per-caller
                # bound (half the pool by default) would refuse most of the in-flight scenario.
                "max_in_flight_per_caller": 0,
            }
        },
        "callers": {"bench": caller},
    }
    if setup.audit_file is not None:
        conf["audit"] = {"file": str(setup.audit_file)}
    if setup.max_connections is not None:
        conf["max_connections"] = setup.max_connections
    return conf


def write_config(setup: GatewaySetup, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config(setup), sort_keys=False))
    return path


def config_problems(config_path: Path) -> str:
    """What `oma-gateway check-config` says is wrong with a config ("" when it is valid)."""
    cmd = [str(gateway_binary()), "check-config", str(config_path)]
    env = {**os.environ, **environment()}
    check = subprocess.run(  # noqa: S603 - our own venv's console script
        cmd, capture_output=True, text=True, timeout=30, check=False, env=env
    )
    return "" if check.returncode == 0 else (check.stdout + check.stderr).strip()


def environment() -> dict[str, str]:
    return {
        PASSWORD_ENV: UPSTREAM_PASSWORD,
        STORE_KEY_ENV: STORE_KEY,
    }


def command(config_path: Path, workers: int = 1) -> list[str]:
    cmd = [str(gateway_binary()), "serve", "--config", str(config_path)]
    # One process on one pinned CPU, like the baseline, unless the row is about scaling:
    # `--workers` would default to every CPU and compete with the load generator.
    return [*cmd, "--workers", str(workers)] if "--workers" in (serve_help() or "") else cmd


def sandbox_command(port: int) -> list[str]:
    listen = f"127.0.0.1:{port}"
    user, password = UPSTREAM_USER, UPSTREAM_PASSWORD
    return [
        str(gateway_binary()),
        "sandbox",
        "--listen",
        listen,
        "--user",
        user,
        "--password",
        password,
    ]
