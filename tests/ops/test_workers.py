"""The supervisor of `serve --workers 2`: restarts, and one admin port that speaks for all."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from .load import Load, call
from .procs import Ports, config, gateway_process, sandbox_process, wait_ready, write_config


async def samples(admin_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as session, session.get(f"{admin_url}/metrics") as got:
        text = await got.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_a_killed_worker_is_restarted_while_its_sibling_keeps_serving(
    tmp_path: Path,
) -> None:
    with sandbox_process() as oma:
        ports = Ports()
        path = write_config(tmp_path / "gateway.yaml", config(oma, ports, {"billing": ["billing"]}))
        argv = ("serve", "--config", str(path), "--workers", "2")
        with gateway_process(*argv) as gateway:
            await asyncio.to_thread(wait_ready, ports.admin_url)
            victim = gateway.worker_pid(0)
            os.kill(victim, signal.SIGKILL)
            await asyncio.to_thread(gateway.wait_for, "worker_died")
            await asyncio.to_thread(gateway.wait_for, "worker_started", 3)
            await asyncio.to_thread(wait_ready, ports.admin_url)
            load = Load(ports.url, concurrency=4)
            running = asyncio.create_task(load.run())
            await asyncio.sleep(1.0)
            load.stop()
            await running
            metrics = await samples(ports.admin_url)
            gateway.signal(signal.SIGTERM)
            code = await asyncio.to_thread(gateway.wait, 15)
    assert load.failures == 0 and load.total > 20, load.statuses
    assert metrics[("oma_gateway_worker_restarts_total", (("worker", "0"),))] == 1
    assert metrics[("oma_gateway_workers", ())] == 2
    served = {
        labels: value
        for (name, labels), value in metrics.items()
        if name == "oma_gateway_requests_total"
    }
    assert sum(served.values()) == load.total  # every worker's calls, each under its own label
    assert {dict(labels)["worker"] for labels in served} <= {"0", "1"}
    assert code == 0, gateway.output()


async def test_the_pod_is_ready_only_while_every_worker_is(tmp_path: Path) -> None:
    with sandbox_process() as oma:
        ports = Ports()
        path = write_config(tmp_path / "gateway.yaml", config(oma, ports, {"billing": ["billing"]}))
        with gateway_process("serve", "--config", str(path), "--workers", "2") as gateway:
            await asyncio.to_thread(wait_ready, ports.admin_url)
            victim = gateway.worker_pid(1)
            os.kill(victim, signal.SIGSTOP)  # alive but unresponsive: it cannot answer /readyz
            try:
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(f"{ports.admin_url}/readyz") as got,
                ):
                    status, body = got.status, await got.json()
            finally:
                os.kill(victim, signal.SIGCONT)
    assert status == 503
    assert body["checks"] == {"serving": True, "worker:0": True, "worker:1": False}


async def test_workers_share_rate_limits_through_a_redis_store(
    tmp_path: Path, redis_url: str
) -> None:
    store_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    with sandbox_process() as oma:
        ports = Ports()
        document = config(oma, ports, {"billing": ["billing"]})
        document["store"] = {"url": redis_url, "encryption_key_env": "TEST_STORE_KEY"}
        # A fresh bucket name per run: the session-scoped Redis outlives this test.
        document["callers"][f"billing-{os.getpid()}"] = document["callers"].pop("billing")
        document["callers"][f"billing-{os.getpid()}"]["rate_limit"] = {"rate": "1/h", "burst": 5}
        path = write_config(tmp_path / "gateway.yaml", document)
        argv = ("serve", "--config", str(path), "--workers", "2")
        with gateway_process(*argv, env={"TEST_STORE_KEY": store_key}) as gateway:
            await asyncio.to_thread(wait_ready, ports.admin_url)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
                statuses = [await call(s, ports.url, "billing") for _ in range(20)]
            metrics = await samples(ports.admin_url)
    served = {
        dict(labels)["worker"]
        for (name, labels), _ in metrics.items()
        if name == "oma_gateway_requests_total"
    }
    assert statuses.count(200) == 5 and statuses.count(429) == 15, statuses
    assert served == {"0", "1"}, gateway.output()  # both workers answered, one budget between them
