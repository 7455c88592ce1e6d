"""Running the gateway: both ports, signals, the bundled sandbox when a config asks for it.

SIGTERM drains: readiness turns false and every answer says `Connection: close`, `drain_delay`
passes (load balancers notice while the listener still accepts), the listener closes with the
idle keep-alive connections, calls in flight finish within `drain_timeout`, then the app's
cleanup closes everything in order (audit flush, upstream pools, the store). SIGINT does the
same without waiting `drain_delay`. Reloads (SIGHUP, files changing) are `reloads`; what is put
together around the app is `wiring`.

One process serves alone unless `workers.py` started it as one of several (`Seat`): a worker
shares the callers' port with its siblings (SO_REUSEPORT), serves its admin app on a unix socket
that the supervisor asks, and drains by itself if the supervisor disappears.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from aiohttp import web

from . import logs
from .app import GATEWAY
from .connections import ConnectionGuard, GuardedSite
from .identity import startup_fields
from .reloads import log_config_warnings
from .settings import SANDBOX_URL, Settings
from .tls import SERVER_TLS
from .wiring import assemble
from .workers import EXIT_CANNOT_START

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
    # JSON lines on stdout, libraries' too, secrets redacted (gateway.logs)
    logs.configure(stdlib=True, level=logs.level_number(settings.log_level))
    try:
        import uvloop
    except ImportError:
        return asyncio.run(serve(settings, config_path, banner, seat))
    return uvloop.run(serve(settings, config_path, banner, seat))


#: Allocations between young collections (CPython's default is 700). A call allocates a few
#: hundred objects, so the default collected the young generation every call or two, and with
#: thousands of connections open each older collection walked all their objects: at 2,000
#: connections the collector took a tenth of the loop. Garbage here is rarely cyclic.
GC_YOUNG = 50_000


def _steady_gc() -> None:
    """What was built to start (config, policies, modules) is never garbage: the collector stops
    walking it (`gc.freeze`), and the young generation is collected less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG, older, oldest)


async def serve(
    settings: Settings,
    config_path: Path | None,
    banner: str | None = None,
    seat: Seat | None = None,
) -> int:
    stop, interrupted = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # Ctrl-C is a person at a terminal, not a balancer: drain without waiting drain_delay.
    loop.add_signal_handler(signal.SIGINT, _both, interrupted, stop)
    async with _sandboxes(settings) as settings:
        workers = 1 if seat is None else seat.workers
        parts = assemble(settings, config_path, workers=workers, watch=seat is None)
        guard = parts.guard
        runner = web.AppRunner(parts.app, handle_signals=False, access_log=None,
                               shutdown_timeout=settings.drain_timeout,
                               keepalive_timeout=settings.keepalive_timeout)  # fmt: skip
        admin = web.AppRunner(parts.admin, handle_signals=False, access_log=None)
        await runner.setup()
        await admin.setup()
        try:
            await _listen(runner, admin, settings, seat, guard)
        except OSError as exc:
            log.error("cannot_listen", listen=str(settings.listen), error=str(exc))
            await admin.cleanup()
            await runner.cleanup()
            return EXIT_CANNOT_START
        async with _supervisor_watch(stop, seat):
            log.info(
                "gateway_listening",
                listen=str(settings.listen),
                admin=_admin_name(settings, seat),
                max_connections=guard.max_connections,
                **startup_fields(settings, 1 if seat is None else seat.workers),
            )
            log_config_warnings(settings)
            if banner:
                print(banner, file=sys.stderr, flush=True)
            _steady_gc()
            await stop.wait()
            await _drain(parts.app, runner, delay=not interrupted.is_set())
        await admin.cleanup()
    log.info("gateway_stopped")
    return 0


def _both(*events: asyncio.Event) -> None:
    for event in events:
        event.set()


async def _listen(
    runner: web.AppRunner,
    admin: web.AppRunner,
    settings: Settings,
    seat: Seat | None,
    guard: ConnectionGuard,
) -> None:
    # Only a worker shares the port: alone, a second gateway on the same port must fail loudly.
    listen = settings.listen
    server_tls = runner.app.get(SERVER_TLS) if runner.app is not None else None
    tls = None if server_tls is None else server_tls.listening
    await GuardedSite(
        runner, guard, listen.host, listen.port, reuse_port=seat is not None, ssl_context=tls
    ).start()
    if seat is not None:
        await web.UnixSite(admin, seat.admin_socket).start()
    else:
        await web.TCPSite(admin, settings.admin_listen.host, settings.admin_listen.port).start()


def _admin_name(settings: Settings, seat: Seat | None) -> str:
    return str(settings.admin_listen) if seat is None else f"unix:{seat.admin_socket}"


async def _drain(app: web.Application, runner: web.AppRunner, *, delay: bool = True) -> None:
    gateway = app[GATEWAY]
    # From here /readyz answers 503 and every answer carries `Connection: close` (wiring).
    gateway.draining = True
    drain_delay = gateway.runtime.settings.drain_delay if delay else 0.0
    log.info("gateway_draining", drain_delay=drain_delay)
    if drain_delay > 0:
        # Still accepting: balancers stop sending, and each keep-alive connection that carries a
        # call meanwhile is closed after its answer, so its client reconnects elsewhere.
        await asyncio.sleep(drain_delay)
    # Stops accepting, closes the keep-alive connections that are idle now (aiohttp's
    # pre_shutdown), lets calls in flight finish (bounded by drain_timeout), then runs the
    # app's cleanup: reloads stopped, audit flushed, upstream pools and the store closed.
    await runner.cleanup()


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
