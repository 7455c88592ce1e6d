"""Mounted files change the way kubelet changes them, and the running gateway follows: no SIGHUP.

Kubernetes projects a ConfigMap or Secret volume as `..<timestamp>/` directories, a `..data`
symlink to the current one, and per key a symlink `KEY -> ..data/KEY`. An update writes a new
timestamped directory and renames a new `..data` over the old: the paths the gateway reads never
change, only what they resolve to. These tests build exactly that layout and swap it.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from ..support import OMA_PASSWORD
from .load import call
from .procs import Ports, config, gateway_process, sandbox_process, until, wait_ready


class Projected:
    """A directory laid out and updated as kubelet does for a mounted volume."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.generation = 0
        root.mkdir()

    def publish(self, files: dict[str, str]) -> None:
        self.generation += 1
        data = self.root / f"..2026_12_01_00_00_{self.generation:02d}"
        data.mkdir()
        for name, text in files.items():
            (data / name).write_text(text)
        link = self.root / "..data_tmp"
        link.symlink_to(data.name)
        link.replace(self.root / "..data")  # the atomic swap
        for name in files:
            if not (self.root / name).is_symlink():
                (self.root / name).symlink_to(f"..data/{name}")

    def path(self, name: str) -> Path:
        return self.root / name


def document(oma: str, ports: Ports, secrets: Projected, *callers: str) -> str:
    doc: dict[str, Any] = config(oma, ports, {name: [name] for name in callers})
    upstream = doc["upstreams"]["oma"]
    del upstream["password_env"]
    upstream["password_file"] = str(secrets.path("oma-password"))
    return yaml.safe_dump(doc)


async def degraded(admin_url: str) -> bool:
    """Whether /readyz says an upstream is degraded (a worker's body, under a supervisor)."""
    async with aiohttp.ClientSession() as session, session.get(f"{admin_url}/readyz") as got:
        body = await got.json()
    bodies = [body, *body.get("workers", {}).values()]
    return any(b.get("degraded") for b in bodies)


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_swapped_secret_and_config_take_effect_without_a_signal(
    tmp_path: Path, workers: int
) -> None:
    with sandbox_process() as oma:
        ports = Ports()
        configs, secrets = Projected(tmp_path / "config"), Projected(tmp_path / "secrets")
        secrets.publish({"oma-password": "the-old-wrong-password\n"})
        configs.publish({"config.yaml": document(oma, ports, secrets, "billing")})
        argv = ("serve", "--config", str(configs.path("config.yaml")), "--workers", str(workers))
        with gateway_process(*argv) as gateway:

            async def is_degraded() -> bool:
                return await degraded(ports.admin_url)

            await asyncio.to_thread(gateway.wait_for, "oma_login_rejected", workers)
            await until("degraded", is_degraded, True, seconds=15, every=0.1)
            # The password runbook: fix the Secret; kubelet swaps the mounted file.
            secrets.publish({"oma-password": OMA_PASSWORD + "\n"})
            await asyncio.to_thread(gateway.wait_for, "config_files_changed", 1, 15)
            await until("not degraded", is_degraded, False, seconds=15, every=0.1)
            # A ConfigMap edit: a second caller appears.
            configs.publish({"config.yaml": document(oma, ports, secrets, "billing", "support")})
            async with aiohttp.ClientSession() as session:
                support = lambda: call(session, ports.url, "support")  # noqa: E731
                await until("support's call", support, 200, seconds=15, every=0.1)
                billing = await call(session, ports.url, "billing")
            reloads = gateway.count("config_reloaded")
            gateway.signal(signal.SIGTERM)
            assert await asyncio.to_thread(gateway.wait, 30) == 0
    assert billing == 200
    assert reloads >= 2 * workers, gateway.output()
    assert "the-old-wrong-password" not in "\n".join(gateway.lines)


async def test_a_broken_swap_is_refused_and_the_running_config_keeps_serving(
    tmp_path: Path,
) -> None:
    with sandbox_process() as oma:
        ports = Ports()
        configs, secrets = Projected(tmp_path / "config"), Projected(tmp_path / "secrets")
        secrets.publish({"oma-password": OMA_PASSWORD})
        configs.publish({"config.yaml": document(oma, ports, secrets, "billing")})
        with gateway_process("serve", "--config", str(configs.path("config.yaml"))) as gateway:
            await asyncio.to_thread(wait_ready, ports.admin_url)
            secrets.publish({"oma-password": ""})  # an empty secret: invalid, as on SIGHUP
            await asyncio.to_thread(gateway.wait_for, "config_reload_refused", 1, 15)
            async with aiohttp.ClientSession() as session:
                status = await call(session, ports.url, "billing")
    assert status == 200
    assert "is empty" in gateway.output()
    assert secrets.path("oma-password").resolve().parent.name.endswith("_02")  # it was swapped
