"""`oma-gateway serve` as a real process: what it refuses before it listens, and `--check`."""

from __future__ import annotations

import socket
from pathlib import Path

from ..support import cli
from .procs import PASSWORD_ENV, Ports, config, write_config

OMA = "http://127.0.0.1:9/api"  # never called: these processes stop before serving


def test_serve_with_a_bad_config_exits_2_listing_every_problem_with_its_path(
    tmp_path: Path,
) -> None:
    ports = Ports()
    document = config(OMA, ports, {"billing": ["billing"]}, drain_delay="soon", mystery=1)
    document["callers"]["billing"]["keys"] = ["sha256:nothex"]
    path = write_config(tmp_path / "bad.yaml", document)
    result = cli("serve", "--config", str(path), env=PASSWORD_ENV, timeout=20)
    assert result.returncode == 2
    for field_path in ("drain_delay:", "mystery:", "callers.billing.keys[0]:"):
        assert field_path in result.stderr, result.stderr
    assert "3 problem(s)" in result.stderr
    assert _free(ports.listen) and _free(ports.admin)  # it never listened


def test_serve_check_validates_without_serving(tmp_path: Path) -> None:
    ports = Ports()
    path = write_config(tmp_path / "ok.yaml", config(OMA, ports, {"billing": ["billing"]}))
    result = cli("serve", "--config", str(path), "--check", "--workers", "3", env=PASSWORD_ENV)
    assert result.returncode == 0, result.stderr
    assert "valid, serves with 3 worker(s)" in result.stdout


def test_several_workers_with_per_process_rate_limits_are_refused(tmp_path: Path) -> None:
    ports = Ports()
    document = config(OMA, ports, {"billing": ["billing"]})
    document["callers"]["billing"]["rate_limit"] = {"rate": "10/s", "burst": 5}
    path = write_config(tmp_path / "limits.yaml", document)
    result = cli("serve", "--config", str(path), "--workers", "2", env=PASSWORD_ENV)
    assert result.returncode == 2
    assert "--workers: with store.url memory://" in result.stderr
    alone = cli("serve", "--config", str(path), "--workers", "1", "--check", env=PASSWORD_ENV)
    assert alone.returncode == 0, alone.stderr


def test_memory_store_defaults_to_one_worker(tmp_path: Path) -> None:
    path = write_config(tmp_path / "ok.yaml", config(OMA, Ports(), {"billing": ["billing"]}))
    result = cli("serve", "--config", str(path), "--check", env=PASSWORD_ENV)
    assert "serves with 1 worker(s)" in result.stdout


def test_a_taken_port_exits_2_alone_and_with_workers(tmp_path: Path) -> None:
    ports = Ports()
    path = write_config(tmp_path / "ok.yaml", config(OMA, ports, {"billing": ["billing"]}))
    with socket.create_server(("127.0.0.1", ports.listen)):
        for workers in ("1", "2"):
            result = cli("serve", "--config", str(path), "--workers", workers, env=PASSWORD_ENV)
            assert result.returncode == 2, (workers, result.stdout, result.stderr)
            assert "cannot" in result.stdout + result.stderr


def test_bad_workers_option_is_a_usage_error(tmp_path: Path) -> None:
    result = cli("serve", "--workers", "0")
    assert result.returncode == 2
    assert "expected a number of at least 1 or auto" in result.stderr


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0
