"""Running the gateway: both ports, signals, the bundled sandbox when a config asks for it.

SIGTERM and SIGINT drain: readiness turns false, the listener closes, calls in flight finish within
`drain_timeout`, then everything is closed in order. SIGHUP reloads the config file: a valid one is
swapped in whole, an invalid one is refused and logged while the running config keeps serving.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from aiohttp import web

from .admin import create_admin_app
from .app import GATEWAY, create_app
from .settings import SANDBOX_URL, Settings
from .validation import ConfigError, load_settings

__all__ = ["run", "serve"]

log = structlog.get_logger(__name__)


def run(settings: Settings, config_path: Path | None = None, banner: str | None = None) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(serve(settings, config_path, banner))
    return uvloop.run(serve(settings, config_path, banner))


async def serve(settings: Settings, config_path: Path | None, banner: str | None = None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with _sandboxes(settings) as settings:
        app = create_app(settings)
        runner = web.AppRunner(app, handle_signals=False, access_log=None,
                               shutdown_timeout=settings.drain_timeout)  # fmt: skip
        admin = web.AppRunner(create_admin_app(app), handle_signals=False, access_log=None)
        await runner.setup()
        await admin.setup()
        await web.TCPSite(runner, settings.listen.host, settings.listen.port).start()
        await web.TCPSite(admin, settings.admin_listen.host, settings.admin_listen.port).start()
        if config_path is not None:
            loop.add_signal_handler(signal.SIGHUP, _reload, app, config_path)
        log.info("gateway_listening", listen=str(settings.listen), admin=str(settings.admin_listen))
        if banner:
            print(banner, file=sys.stderr, flush=True)
        await stop.wait()
        log.info("gateway_draining")
        app[GATEWAY].draining = True
        await runner.cleanup()  # stops accepting, lets calls in flight finish, closes the gateway
        await admin.cleanup()
    log.info("gateway_stopped")
    return 0


def _reload(app: web.Application, path: Path) -> None:
    gateway = app[GATEWAY]
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        log.error("config_reload_refused", problems=exc.problems)
        return
    if any(u.url == SANDBOX_URL for u in settings.upstreams.values()):
        log.error("config_reload_refused", problems=["the bundled sandbox needs a restart"])
        return
    gateway.reload(settings)
    log.info("config_reloaded", callers=len(settings.callers), upstreams=len(settings.upstreams))


@asynccontextmanager
async def _sandboxes(settings: Settings) -> AsyncIterator[Settings]:
    """Start the bundled sandbox for upstreams whose url is `sandbox:`, and point them at it."""
    wanted = [u for u in settings.upstreams.values() if u.url == SANDBOX_URL]
    if not wanted:
        yield settings
        return
    from .sandbox import Sandbox, create_sandbox_app

    runners, upstreams = [], dict(settings.upstreams)
    try:
        for upstream in wanted:
            sandbox = Sandbox(user=upstream.user, password=upstream.password.reveal())
            runner = web.AppRunner(create_sandbox_app(sandbox), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            runners.append(runner)
            port = runner.addresses[0][1]
            url = f"http://127.0.0.1:{port}/api"
            upstreams[upstream.name] = dataclasses.replace(upstream, url=url)
            log.info("sandbox_started", upstream=upstream.name, url=url)
        yield dataclasses.replace(settings, upstreams=upstreams)
    finally:
        for runner in runners:
            await runner.cleanup()
