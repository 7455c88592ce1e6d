"""SIGHUP under sustained load, against a real gateway process and a real sandbox process."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest

from .load import Load, call
from .procs import Ports, config, gateway_process, sandbox_process, wait_ready, write_config

RELOADS = 20
INVALID_AT = 10  # the one refused config, in the middle of the run


@pytest.mark.parametrize("workers", [1, 2])
async def test_twenty_reloads_under_load_drop_no_call_and_swap_keys_atomically(
    tmp_path: Path, workers: int
) -> None:
    with sandbox_process("--latency", "0.02") as oma:
        ports, path = Ports(), tmp_path / "gateway.yaml"
        # The two configs also differ in the upstream's timeout, so every reload retires the
        # upstream's client while calls are in flight on it.
        # SIGHUP alone: the file watcher (tests/ops/test_file_watch.py) would add reloads.
        only_billing = config(oma, ports, {"billing": ["billing"]}, timeout="5s",
                              watch_files=False)  # fmt: skip
        with_support = config(oma, ports, {"billing": ["billing"], "support": ["support"]},
                              timeout="6s", watch_files=False)  # fmt: skip
        write_config(path, only_billing)
        argv = ("serve", "--config", str(path), "--workers", str(workers))
        with gateway_process(*argv) as gateway:
            await asyncio.to_thread(wait_ready, ports.admin_url)
            load = Load(ports.url)
            running = asyncio.create_task(load.run())
            seen: list[int | str] = []
            async with aiohttp.ClientSession() as session:
                valid = 0
                for i in range(RELOADS):
                    if i == INVALID_AT:
                        path.write_text("callers: {billing: {keys: [nope]}}\nsurprise: 1\n")
                        gateway.signal(signal.SIGHUP)
                        await asyncio.to_thread(gateway.wait_for, "config_reload_refused")
                    else:
                        write_config(path, with_support if valid % 2 == 0 else only_billing)
                        gateway.signal(signal.SIGHUP)
                        valid += 1
                        await asyncio.to_thread(
                            gateway.wait_for, "config_reloaded", valid * workers
                        )
                    seen.append(await call(session, ports.url, "support"))
                    await asyncio.sleep(0.1)  # calls keep landing between reloads
            load.stop()
            await running
    # Reloads 0, 2, 4... add the support key, the others revoke it; the invalid one (10) keeps
    # what reload 9 left: revoked.
    expected: list[int | str] = []
    valid = 0
    for i in range(RELOADS):
        if i != INVALID_AT:
            valid += 1
        expected.append(200 if i != INVALID_AT and valid % 2 == 1 else 401)
    print(f"workers={workers}: {load.total} calls across {RELOADS} SIGHUPs: {dict(load.statuses)}")
    assert seen == expected
    assert load.failures == 0, load.statuses
    assert load.total > 100, load.statuses
    assert gateway.count("config_reloaded") == (RELOADS - 1) * workers
    assert gateway.count("upstream_client_retired") >= (RELOADS - 2) * workers
