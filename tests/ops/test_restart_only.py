"""Settings a reload cannot apply stay as they started, and the reload says which need a restart.

Before, a SIGHUP that changed `store.on_error` swapped it into the running settings while the
limiter kept the old behaviour: readiness judged the store by the new value, limiting by the
old. Now every reload path keeps the restart-only values (`gateway.restartonly`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from gateway.restartonly import keep_restart_only
from gateway.secrets import digest
from gateway.settings import SANDBOX_URL, TlsSettings

from ..support import KEYS, make_settings
from .load import call
from .procs import Ports, config, gateway_process, sandbox_process, wait_ready, write_config


async def readiness(admin_url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(f"{admin_url}/readyz") as got:
        body: dict[str, Any] = await got.json()
        return body


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_reload_that_changes_store_on_error_keeps_the_running_one_and_says_so(
    tmp_path: Path, redis_url: str, workers: int
) -> None:
    env = {"TEST_STORE_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode()}
    with sandbox_process() as oma:
        ports = Ports()
        document = config(oma, ports, {"billing": ["billing"]}, watch_files=False)
        document["store"] = {"url": redis_url, "encryption_key_env": "TEST_STORE_KEY"}
        path = write_config(tmp_path / "gateway.yaml", document)
        argv = ("serve", "--config", str(path), "--workers", str(workers))
        with gateway_process(*argv, env=env) as gateway:
            await asyncio.to_thread(wait_ready, ports.admin_url)
            document["store"]["on_error"] = "fail_closed"
            document["log_level"] = "debug"
            document["callers"]["support"] = {"keys": [{"digest": digest(KEYS["support"])}],
                                              "allow": ["*"]}  # fmt: skip
            write_config(path, document)
            gateway.signal(signal.SIGHUP)
            await asyncio.to_thread(gateway.wait_for, "config_reloaded", workers)
            body = await readiness(ports.admin_url)
            async with aiohttp.ClientSession() as session:
                support = await call(session, ports.url, "support")
    warnings = [json.loads(line) for line in gateway.lines if "config_reload_needs_restart" in line]
    checks = body["checks"] if workers == 1 else body["workers"]["0"]["checks"]
    assert support == 200  # the reloadable part took effect
    assert "store" not in checks  # still judged as fail_open: the store settings did not move
    assert warnings and all(w["settings"] == ["store", "log_level"] for w in warnings)
    assert len(warnings) == workers + (1 if workers > 1 else 0)  # each worker and the supervisor


@pytest.mark.parametrize(
    ("running_ca", "new_ca", "kept_ca"),
    [
        (None, "/run/ca.pem", None),  # turned on: off until a restart (the port does not ask)
        ("/run/ca.pem", None, None),  # turned off: the CAs go at once
        ("/run/ca.pem", "/run/other.pem", "/run/other.pem"),  # another file: taken at once
    ],
)
def test_client_certificates_turned_on_or_off_by_a_reload_need_a_restart(
    running_ca: str | None, new_ca: str | None, kept_ca: str | None
) -> None:
    running = make_settings(SANDBOX_URL, tls=TlsSettings("c.pem", "k.pem", running_ca))
    new = make_settings(SANDBOX_URL, tls=TlsSettings("c2.pem", "k2.pem", new_ca))
    with capture_logs() as logs:
        kept = keep_restart_only(new, running)
    assert kept.tls == TlsSettings("c2.pem", "k2.pem", kept_ca)
    said = [e["settings"] for e in logs if e["event"] == "config_reload_needs_restart"]
    assert said == ([] if (running_ca is None) == (new_ca is None) else [["tls.client_ca_file"]])
