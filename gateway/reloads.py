"""Reloading a running process: on SIGHUP and when its files change, one reload at a time.

`reload` validates the file (and the secrets it names) exactly as a start would, keeps the
restart-only settings (`restartonly`), and swaps the rest in whole; an invalid file is refused
and logged, and the running config keeps serving. `reload_triggers` is the app context that
turns SIGHUP and, where this process owns its config file, a change on disk (`filewatch`) into
reloads; several triggers arriving during a reload make one more reload, not several.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import structlog
from aiohttp import web

from .app import GATEWAY
from .config_checks import every_warning
from .filewatch import watch_files
from .keyexpiry import log_expiring_keys
from .restartonly import keep_restart_only
from .settings import SANDBOX_URL, Settings
from .tls import SERVER_TLS
from .validation import ConfigError, load_settings
from .workers import worker_problems

__all__ = ["log_config_warnings", "reload", "reload_triggers"]

log = structlog.get_logger(__name__)

Context = Callable[[web.Application], contextlib.AbstractAsyncContextManager[None]]


async def reload(app: web.Application, path: Path, workers: int = 1) -> bool:
    """Validate the file, then swap it in whole; True when it took effect."""
    gateway = app[GATEWAY]
    try:
        settings = await asyncio.to_thread(load_settings, path)  # file and secret reads
    except ConfigError as exc:
        log.error("config_reload_refused", problems=exc.problems)
        return False
    problems = worker_problems(settings, workers)
    if any(u.url == SANDBOX_URL for u in settings.upstreams.values()):
        problems.append("upstreams: the bundled sandbox needs a restart")
    if problems:
        log.error("config_reload_refused", problems=problems)
        return False
    settings = keep_restart_only(settings, gateway.runtime.settings)
    gateway.reload(settings)
    if settings.tls is not None and SERVER_TLS in app:
        app[SERVER_TLS].reload(settings.tls)  # new handshakes only; open ones keep theirs
    log.info("config_reloaded", callers=len(settings.callers), upstreams=len(settings.upstreams))
    log_expiring_keys(settings)
    log_config_warnings(settings)
    return True


def log_config_warnings(settings: Settings) -> None:
    """The legal but probably unintended settings (`every_warning`), at start and reload."""
    for warning in every_warning(settings):
        log.warning("config_warning", warning=warning)


def reload_triggers(path: Path, workers: int, *, watch: bool) -> Context:
    """SIGHUP reloads; with `watch`, so does a change of the config or its secret files."""

    @contextlib.asynccontextmanager
    async def triggers(app: web.Application) -> AsyncIterator[None]:
        wanted = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, wanted.set)
        tasks = [asyncio.create_task(_reload_loop(app, path, workers, wanted), name="reloads")]
        if watch:
            tasks.append(asyncio.create_task(watch_files(path, wanted), name="file-watch"))
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGHUP)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    return triggers


async def _reload_loop(
    app: web.Application, path: Path, workers: int, wanted: asyncio.Event
) -> None:
    while True:
        await wanted.wait()
        wanted.clear()
        await reload(app, path, workers)
