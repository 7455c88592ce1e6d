"""Warning ahead of API key expiry: a gauge per dated key, and a log line at start and reload.

A key with `expires` stops working at that instant (`keys` refuses it). So that nobody learns of
it from a caller's 401s, every dated key is exported as seconds left, for an alert such as
`oma_gateway_caller_key_expiry_seconds < 7 * 86400`, and keys within `WARN_WITHIN` of their end
(or past it) are logged whenever a config is taken into use. Labels name the caller and the
key's id (a digest prefix), both from the config: the label set is bounded and holds no secret.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import structlog
from aiohttp import web
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .app import GATEWAY, METRICS
from .settings import Settings

__all__ = ["WARN_WITHIN", "KeyExpiryCollector", "log_expiring_keys", "watch_key_expiry"]

log = structlog.get_logger(__name__)

WARN_WITHIN = 14 * 86400.0  # seconds: how far ahead of expiry a key is logged as expiring


class KeyExpiryCollector(Collector):
    """Reads the config in use at scrape time, so a reload shows at the next scrape."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "oma_gateway_caller_key_expiry_seconds",
            "Seconds until a caller's API key expires (negative: expired); dated keys only.",
            labels=["caller", "key_id"],
        )
        if GATEWAY in self._app:
            for caller, key_id, left in _dated_keys(self._app[GATEWAY].runtime.settings):
                gauge.add_metric([caller, key_id], left)
        yield gauge


def watch_key_expiry(app: web.Application) -> None:
    """Export the gauge on the app's registry, and log expiring keys once the app starts."""
    app[METRICS].registry.register(KeyExpiryCollector(app))

    async def on_startup(app: web.Application) -> None:
        log_expiring_keys(app[GATEWAY].runtime.settings)

    app.on_startup.append(on_startup)


def log_expiring_keys(settings: Settings) -> None:
    for caller, key_id, left in _dated_keys(settings):
        if left <= 0:
            log.warning("caller_key_expired", caller=caller, key_id=key_id)
        elif left <= WARN_WITHIN:
            log.warning(
                "caller_key_expiring",
                caller=caller,
                key_id=key_id,
                days_left=round(left / 86400, 1),
            )


def _dated_keys(settings: Settings) -> Iterator[tuple[str, str, float]]:
    now = time.time()
    for caller in settings.callers.values():
        for key in caller.keys:
            if key.expires is not None:
                yield caller.name, key.key_id, key.expires.timestamp() - now
