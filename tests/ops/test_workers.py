"""The supervisor of `serve --workers 2`: restarts, and one admin port that speaks for all."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
from pathlib import Path

import aiohttp

from gateway.workers import HEARTBEAT

from ..support import bearer
from .load import Load, call
from .procs import (
    Ports,
    config,
    gateway_process,
    samples,
    sandbox_process,
    wait_ready,
    write_config,
)


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


async def test_every_stdout_line_of_two_workers_is_whole_json_even_when_large(
    tmp_path: Path,
) -> None:
    """Audit records of ~20 KiB from two workers at once: over PIPE_BUF, they would interleave
    on a shared pipe; relayed through the supervisor, every line parses."""
    big = {"ids": [f"{i:03d}" + "x" * 500 for i in range(40)]}  # the record lists them all
    with sandbox_process() as oma:
        ports = Ports()
        path = write_config(tmp_path / "gateway.yaml", config(oma, ports, {"billing": ["billing"]}))
        with gateway_process("serve", "--config", str(path), "--workers", "2") as gateway:
            await asyncio.to_thread(wait_ready, ports.admin_url)
            connector = aiohttp.TCPConnector(force_close=True)  # spread over both workers
            async with aiohttp.ClientSession(connector=connector) as session:

                async def one() -> int:
                    url = f"{ports.url}/api/echo"
                    async with session.post(url, json=big, headers=bearer("billing")) as got:
                        return got.status

                statuses = await asyncio.gather(*(one() for _ in range(300)))
            metrics = await samples(ports.admin_url)
            gateway.signal(signal.SIGTERM)
            await asyncio.to_thread(gateway.wait, 30)
    audit = [line for line in gateway.lines if '"event":"audit"' in line]
    parsed = [json.loads(line) for line in gateway.lines]  # every line, the supervisor's too
    served = {dict(labels)["worker"] for (name, labels), _ in metrics.items()
              if name == "oma_gateway_requests_total"}  # fmt: skip
    assert statuses == [200] * 300
    assert served == {"0", "1"}  # both wrote large records concurrently
    assert len(audit) == 300 and all(len(line) > 16 * 1024 for line in audit)
    assert {p["event"] for p in parsed} >= {"supervisor_started", "worker_started", "audit"}


async def test_a_wedged_worker_fails_liveness_and_is_restarted(tmp_path: Path) -> None:
    with sandbox_process() as oma:
        ports = Ports()
        path = write_config(tmp_path / "gateway.yaml", config(oma, ports, {"billing": ["billing"]}))
        with gateway_process("serve", "--config", str(path), "--workers", "2") as gateway:
            await asyncio.to_thread(wait_ready, ports.admin_url)
            await asyncio.sleep(HEARTBEAT * 1.5)  # every worker has answered a heartbeat
            victim = gateway.worker_pid(1)
            os.kill(victim, signal.SIGSTOP)  # alive, holding its share of the port, silent
            seen = await _healthz_until_failing(ports.admin_url)
            await asyncio.to_thread(gateway.wait_for, "worker_unresponsive", 1, 20)
            await asyncio.to_thread(gateway.wait_for, "worker_started", 3, 20)
            await asyncio.to_thread(wait_ready, ports.admin_url)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
                statuses = [await call(s, ports.url, "billing") for _ in range(20)]
                async with s.get(f"{ports.admin_url}/healthz") as got:
                    healthy = got.status
            metrics = await samples(ports.admin_url)
    assert seen == {"status": "failing", "unresponsive_workers": [1]}
    assert gateway.worker_pid(1) != victim
    assert statuses == [200] * 20  # no new connection hangs on the stopped process any more
    assert healthy == 200
    assert metrics[("oma_gateway_worker_restarts_total", (("worker", "1"),))] == 1


async def _healthz_until_failing(admin_url: str) -> object:
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            async with session.get(f"{admin_url}/healthz") as got:
                if got.status == 503:
                    return await got.json()
            await asyncio.sleep(0.2)
    raise AssertionError("/healthz never failed")
