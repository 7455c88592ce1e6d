"""A rolling restart of two replicas behind an L4 balancer loses no call of keep-alive clients.

Two real gateway processes behind `Balancer`; keep-alive clients call through it without pause.
Each replica in turn is replaced as a Deployment does it: a new one starts and becomes ready
and joins the endpoints; the old one leaves the endpoints and gets SIGTERM at the same moment
(Kubernetes does both at once). Its pinned keep-alive connections are the risk: while draining
the gateway answers each call on them with `Connection: close`, so every client reconnects
(to a live replica) before the listener and the idle connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from .balancer import Balancer
from .load import Load
from .procs import Ports, Proc, config, gateway_process, sandbox_process, wait_ready, write_config

CLIENTS = 12


@contextlib.contextmanager
def replica(oma: str, workdir: Path, name: str, workers: int) -> Iterator[tuple[Ports, Proc]]:
    ports = Ports()
    document = config(oma, ports, {"billing": ["billing"]}, drain_delay="2s",
                      drain_timeout="10s")  # fmt: skip
    path = write_config(workdir / f"{name}.yaml", document)
    with gateway_process("serve", "--config", str(path), "--workers", str(workers)) as proc:
        yield ports, proc


async def replace(balancer: Balancer, old: tuple[Ports, Proc], new: tuple[Ports, Proc]) -> int:
    await asyncio.to_thread(wait_ready, new[0].admin_url)
    balancer.endpoints.append(new[0].listen)
    await asyncio.sleep(0.5)
    balancer.endpoints.remove(old[0].listen)
    old[1].signal(signal.SIGTERM)
    return await asyncio.to_thread(old[1].wait, 30)


@pytest.mark.parametrize("workers", [1, 2])
async def test_keep_alive_clients_lose_no_call_across_a_rolling_restart(
    tmp_path: Path, workers: int
) -> None:
    with sandbox_process("--latency", "0.02") as oma, contextlib.ExitStack() as stack:
        a, b = (stack.enter_context(replica(oma, tmp_path, n, workers)) for n in ("a", "b"))
        for ports, _ in (a, b):
            await asyncio.to_thread(wait_ready, ports.admin_url)
        async with Balancer() as balancer:
            balancer.endpoints += [a[0].listen, b[0].listen]
            load = Load(balancer.url, concurrency=CLIENTS)
            running = asyncio.create_task(load.run())
            await asyncio.sleep(1.0)
            before = load.total
            a2 = stack.enter_context(replica(oma, tmp_path, "a2", workers))
            code_a = await replace(balancer, a, a2)
            b2 = stack.enter_context(replica(oma, tmp_path, "b2", workers))
            code_b = await replace(balancer, b, b2)
            await asyncio.sleep(1.0)
            load.stop()
            await running
    print(
        f"rolling restart, {workers} worker(s) a replica: {load.total} calls, {dict(load.statuses)}"
    )
    assert (code_a, code_b) == (0, 0)
    assert before > 0 and load.total > before + 100
    assert load.failures == 0, load.statuses
