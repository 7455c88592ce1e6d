"""`log_level` in the config and `OMA_GATEWAY_LOG_LEVEL` in the environment, on real processes."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest

from gateway.secrets import digest

from ..support import cli
from .procs import (
    PASSWORD_ENV,
    Ports,
    config,
    gateway_process,
    sandbox_process,
    wait_ready,
    write_config,
)

EXPIRED = {"digest": digest("an-old-key"), "expires": "2020-01-01T00:00:00+00:00"}


@pytest.mark.parametrize("workers", [1, 2])
async def test_log_level_warning_silences_info_in_workers_and_supervisor(
    tmp_path: Path, workers: int
) -> None:
    with sandbox_process() as oma:
        ports = Ports()
        # An expired key makes each worker warn at start (config_warning); a reload that changes
        # a restart-only setting makes the supervisor and each worker warn (needs_restart).
        keys = {"billing": ["billing", EXPIRED]}
        document = config(oma, ports, keys, log_level="warning", watch_files=False)
        path = write_config(tmp_path / "gateway.yaml", document)
        argv = ("serve", "--config", str(path), "--workers", str(workers))
        with gateway_process(*argv) as gateway:
            await asyncio.to_thread(wait_ready, ports.admin_url)
            await asyncio.to_thread(gateway.wait_for, "expired at 2020-01-01", workers)
            write_config(path, {**document, "keepalive_timeout": "60s"})
            gateway.signal(signal.SIGHUP)
            needs_restart = workers + (1 if workers > 1 else 0)  # each worker and the supervisor
            await asyncio.to_thread(gateway.wait_for, "config_reload_needs_restart", needs_restart)
            gateway.signal(signal.SIGTERM)
            assert await asyncio.to_thread(gateway.wait, 30) == 0
    lines = [json.loads(line) for line in gateway.lines]
    levels = {line["level"] for line in lines}
    assert levels <= {"warning", "error"}, gateway.output()  # no info line, from any process
    events = [line["event"] for line in lines]
    expired = [x for x in lines if x["event"] == "config_warning" and "expired" in x["warning"]]
    assert len(expired) == 2 * workers  # each worker, at start and on reload
    assert events.count("config_reload_needs_restart") == needs_restart


async def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    with sandbox_process() as oma:
        ports = Ports()
        document = config(oma, ports, {"billing": ["billing"]}, log_level="error")
        path = write_config(tmp_path / "gateway.yaml", document)
        env = {"OMA_GATEWAY_LOG_LEVEL": "INFO"}
        with gateway_process("serve", "--config", str(path), env=env) as gateway:
            await asyncio.to_thread(gateway.wait_for, "gateway_listening")


def test_an_unknown_level_is_refused_with_where_it_came_from(tmp_path: Path) -> None:
    ports = Ports()
    document = config("http://127.0.0.1:9/api", ports, {"billing": ["billing"]}, log_level="loud")
    path = write_config(tmp_path / "gateway.yaml", document)
    in_file = cli("check-config", str(path), env=PASSWORD_ENV)
    in_env = cli(
        "check-config", str(path), env={**PASSWORD_ENV, "OMA_GATEWAY_LOG_LEVEL": "verbose"}
    )
    assert in_file.returncode == 1 and "log_level: expected one of" in in_file.stderr
    assert in_env.returncode == 1 and "OMA_GATEWAY_LOG_LEVEL: expected one of" in in_env.stderr
