"""Dated API keys through a real gateway process: refused once expired, warned about before."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from gateway.secrets import digest

from ..support import KEYS
from .load import call
from .procs import Ports, config, gateway_process, sandbox_process, wait_ready, write_config

DAY = 86400.0


def dated(caller: str, expires: datetime) -> dict[str, object]:
    return {"digest": digest(KEYS[caller]), "expires": expires.isoformat()}


async def expiry_gauge(admin_url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(f"{admin_url}/metrics") as got:
        text = await got.text()
    return {
        sample.labels["caller"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "oma_gateway_caller_key_expiry_seconds"
        for sample in family.samples
    }


async def test_expired_key_is_refused_and_expiring_keys_are_exported_and_logged(
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC)
    keys: dict[str, list[Any]] = {
        "billing": [dated("billing", now - timedelta(days=1))],  # expired yesterday
        "support": [dated("support", now + timedelta(days=5))],  # within the warning window
        "readonly": ["readonly"],  # undated: never expires, not exported
    }
    with sandbox_process() as oma:
        ports = Ports()
        path = write_config(tmp_path / "gateway.yaml", config(oma, ports, keys))
        with gateway_process("serve", "--config", str(path)) as gateway:
            await asyncio.to_thread(wait_ready, ports.admin_url)
            async with aiohttp.ClientSession() as session:
                statuses = {c: await call(session, ports.url, c) for c in keys}
            gauge = await expiry_gauge(ports.admin_url)
    assert statuses == {"billing": 401, "support": 200, "readonly": 200}
    assert set(gauge) == {"billing", "support"}
    assert -DAY - 60 < gauge["billing"] < -DAY + 60
    assert 5 * DAY - 60 < gauge["support"] < 5 * DAY + 60
    assert gateway.count("caller_key_expired") == 1
    assert gateway.count("caller_key_expiring") == 1
