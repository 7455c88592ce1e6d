"""What is running, as a scrape sees it: build_info with the revision, and process metrics per
worker from a real two-worker gateway, passing promtool's lint."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from gateway.identity import revision

from ..ops.procs import Ports, config, gateway_process, sandbox_process, wait_ready, write_config


def scrape(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:  # noqa: S310
        return str(answer.read().decode())


def test_process_metrics_and_revision_per_worker(tmp_path: Path) -> None:
    with sandbox_process() as oma:
        ports = Ports()
        path = write_config(tmp_path / "gw.yaml", config(oma, ports, {"billing": ["billing"]}))
        env = {"OMA_GATEWAY_REVISION": "abc123def456"}
        with gateway_process("serve", "--config", str(path), "--workers", "2", env=env):
            wait_ready(ports.admin_url)
            text = scrape(ports.admin_url)
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    rss = {s.labels["worker"] for s in samples if s.name == "process_resident_memory_bytes"}
    assert rss == {"0", "1"}
    for name in ("process_cpu_seconds_total", "process_open_fds", "process_start_time_seconds"):
        assert {s.labels["worker"] for s in samples if s.name == name} == {"0", "1"}
    builds = [s.labels for s in samples if s.name == "oma_gateway_build_info"]
    assert {b["revision"] for b in builds} == {"abc123def456"} and len(builds) == 2
    assert any(s.name == "python_info" for s in samples)
    lint = subprocess.run(
        ["promtool", "check", "metrics"],  # noqa: S607 (the Debian package on PATH)
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_revision_comes_from_the_checkout_when_nothing_else_says() -> None:
    done = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"],  # noqa: S607 (git on PATH)
        capture_output=True,
        text=True,
        check=False,
    )
    assert revision() == done.stdout.strip()
