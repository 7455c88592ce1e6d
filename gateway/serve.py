"""Running the gateway: both ports, signals, the bundled sandbox when a config asks for it.

SIGTERM and SIGINT drain: readiness turns false, `drain_delay` passes (load balancers notice
while the listener still accepts), the listener closes, calls in flight finish within
`drain_timeout`, then the app's cleanup closes everything in order (audit flush, upstream pools,
the store). SIGHUP reloads the config file: a valid one is swapped in whole, an invalid one is
refused and logged while the running config keeps serving.

One process serves alone unless `workers.py` started it as one of several (`Seat`): a worker
shares the callers' port with its siblings (SO_REUSEPORT), serves its admin app on a unix socket
that the supervisor asks, and drains by itself if the supervisor disappears.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from aiohttp import web

from . import logs
from .admin import create_admin_app
from .app import GATEWAY, create_app
from .identity import startup_fields
from .keyexpiry import log_expiring_keys, watch_key_expiry
from .settings import SANDBOX_URL, Settings
from .validation import ConfigError, load_settings
from .workers import EXIT_CANNOT_START, worker_problems

__all__ = ["Seat", "run", "serve"]

log = structlog.get_logger(__name__)

PARENT_POLL = 1.0  # seconds between a worker's checks that its supervisor still lives


@dataclasses.dataclass(frozen=True, slots=True)
class Seat:
    """This process's place among several workers started by `workers.Supervisor`."""

    workers: int
    admin_socket: str


def run(
    settings: Settings,
    config_path: Path | None = None,
    banner: str | None = None,
    seat: Seat | None = None,
) -> int:
    logs.configure()  # JSON lines on stdout, secrets redacted (gateway.logs)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(serve(settings, config_path, banner, seat))
    return uvloop.run(serve(settings, config_path, banner, seat))


async def serve(
    settings: Settings,
    config_path: Path | None,
    banner: str | None = None,
    seat: Seat | None = None,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with _sandboxes(settings) as settings:
        app = create_app(settings)
        watch_key_expiry(app)
        runner = web.AppRunner(app, handle_signals=False, access_log=None,
                               shutdown_timeout=settings.drain_timeout)  # fmt: skip
        admin = web.AppRunner(create_admin_app(app), handle_signals=False, access_log=None)
        await runner.setup()
        await admin.setup()
        try:
            await _listen(runner, admin, settings, seat)
        except OSError as exc:
            log.error("cannot_listen", listen=str(settings.listen), error=str(exc))
            await admin.cleanup()
            await runner.cleanup()
            return EXIT_CANNOT_START
        async with _reloads(app, config_path, seat), _supervisor_watch(stop, seat):
            log.info(
                "gateway_listening", listen=str(settings.listen), admin=_admin_name(settings, seat),
                **startup_fields(settings, 1 if seat is None else seat.workers),
            )  # fmt: skip
            _log_warnings(settings)
            if banner:
                print(banner, file=sys.stderr, flush=True)
            await stop.wait()
            await _drain(app, runner)
        await admin.cleanup()
    log.info("gateway_stopped")
    return 0


async def _listen(
    runner: web.AppRunner, admin: web.AppRunner, settings: Settings, seat: Seat | None
) -> None:
    # Only a worker shares the port: alone, a second gateway on the same port must fail loudly.
    listen = settings.listen
    await web.TCPSite(runner, listen.host, listen.port, reuse_port=seat is not None).start()
    if seat is not None:
        await web.UnixSite(admin, seat.admin_socket).start()
    else:
        await web.TCPSite(admin, settings.admin_listen.host, settings.admin_listen.port).start()


def _admin_name(settings: Settings, seat: Seat | None) -> str:
    return str(settings.admin_listen) if seat is None else f"unix:{seat.admin_socket}"


async def _drain(app: web.Application, runner: web.AppRunner) -> None:
    gateway = app[GATEWAY]
    gateway.draining = True  # /readyz answers 503 from here on
    delay = gateway.runtime.settings.drain_delay
    log.info("gateway_draining", drain_delay=delay)
    if delay > 0:
        await asyncio.sleep(delay)  # still accepting: balancers stop sending before we refuse
    # Stops accepting, lets calls in flight finish (bounded by drain_timeout), then runs the app's
    # cleanup: audit flushed, upstream pools and the store closed.
    await runner.cleanup()


@asynccontextmanager
async def _reloads(
    app: web.Application, path: Path | None, seat: Seat | None
) -> AsyncIterator[None]:
    """SIGHUPs reload one at a time; several arriving during a reload make one more."""
    if path is None:
        yield
        return
    wanted = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, wanted.set)
    task = asyncio.create_task(_reload_loop(app, path, seat, wanted), name="reloads")
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _reload_loop(
    app: web.Application, path: Path, seat: Seat | None, wanted: asyncio.Event
) -> None:
    while True:
        await wanted.wait()
        wanted.clear()
        await reload(app, path, 1 if seat is None else seat.workers)


async def reload(app: web.Application, path: Path, workers: int = 1) -> bool:
    """Validate the file, then swap it in whole; True when it took effect."""
    gateway = app[GATEWAY]
    running = gateway.runtime.settings
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
    # The sockets stay where they are: addresses (from the file or the command line) need a restart.
    settings = dataclasses.replace(
        settings, listen=running.listen, admin_listen=running.admin_listen
    )
    gateway.reload(settings)
    log.info("config_reloaded", callers=len(settings.callers), upstreams=len(settings.upstreams))
    log_expiring_keys(settings)
    _log_warnings(settings)
    return True


def _log_warnings(settings: Settings) -> None:
    for warning in settings.warnings:
        log.warning("config_warning", warning=warning)


@asynccontextmanager
async def _supervisor_watch(stop: asyncio.Event, seat: Seat | None) -> AsyncIterator[None]:
    """A worker whose supervisor died (SIGKILL, OOM) drains instead of serving unsupervised."""
    if seat is None:
        yield
        return
    parent = os.getppid()

    async def watch() -> None:
        while os.getppid() == parent:  # noqa: ASYNC110 (no event tells of a parent's death)
            await asyncio.sleep(PARENT_POLL)
        log.error("supervisor_gone", parent=parent)
        stop.set()

    task = asyncio.create_task(watch(), name="supervisor-watch")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


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
