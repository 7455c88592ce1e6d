"""`serve --workers N`: N gateway processes on one port, kept by a supervisor process.

The supervisor validates the config, then starts each worker as `python -m gateway serve` on a
snapshot of the config it validated (so a worker restarted later runs what its siblings run,
even if the file has been edited badly since). Workers share the callers' port with
SO_REUSEPORT, so the kernel spreads connections across them; the supervisor serves the admin
port for the whole pod (`workeradmin`). SIGHUP, or the config or a secret file changing on disk
(`filewatch`), validates the file and, only if it is valid, hands the snapshot to every worker;
SIGTERM/SIGINT drains every worker and exits 0 once all of them have. A worker that dies
unexpectedly is restarted with exponential backoff; one that stops answering the heartbeat
(its /healthz, every HEARTBEAT seconds) is killed after WEDGED_AFTER misses and restarted the
same way. Each worker's stdout is a pipe of its own, relayed line by line (`relay`), and the
supervisor logs JSON like the workers: every stdout line of the pod is one whole JSON object.

State lives in the store, so workers share it only through a shared store: with `memory://`
each worker keeps its own rate-limit buckets, and a limit would be granted N times over.
Several workers with `memory://` are therefore refused when any rate limit is configured
(`worker_problems`), and the default is one worker unless the store is shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog
from aiohttp import web
from prometheus_client.core import Metric

from . import logs
from .cpus import usable_cpus
from .filewatch import watch_files
from .relay import relay_lines
from .restartonly import keep_restart_only
from .settings import SANDBOX_URL, Settings
from .store import WORKERS_ENV
from .validation import ConfigError, load_settings
from .workeradmin import create_supervisor_admin_app, heartbeat, supervisor_families

__all__ = ["EXIT_CANNOT_START", "Supervisor", "default_workers", "worker_problems"]

log = structlog.get_logger(__name__)

EXIT_CANNOT_START = 2  # invalid config or a port that cannot be bound: restarting will not help
RESTART_FIRST, RESTART_CAP = 0.5, 30.0  # seconds of backoff before restarting a dead worker
STABLE_AFTER = 30.0  # seconds: a worker that ran this long restarts without backoff
KILL_MARGIN = 10.0  # seconds past drain_delay + drain_timeout before a worker is killed
HEARTBEAT = 2.0  # seconds between the supervisor's looks at each worker's /healthz
WEDGED_AFTER = 3  # heartbeats missed in a row: the worker is killed and restarted
_PIPE_LIMIT = 1024 * 1024


def default_workers(settings: Settings) -> int:
    return usable_cpus() if settings.store.is_shared else 1


def worker_problems(settings: Settings, workers: int) -> list[str]:
    """Why `settings` cannot be served by `workers` processes (empty: it can)."""
    if workers < 1:
        return ["--workers: expected at least 1"]
    problems = []
    if workers > 1 and any(u.url == SANDBOX_URL for u in settings.upstreams.values()):
        problems.append(
            "--workers: the bundled sandbox (url: sandbox:) lives inside one process; run "
            "`oma-gateway sandbox` and point the upstream at its URL"
        )
    if workers > 1 and not settings.store.is_shared and _has_limits(settings):
        problems.append(
            f"--workers: with store.url memory:// each of the {workers} workers would count the "
            "rate limits apart, granting them N times over; use a redis:// store or one worker"
        )
    return problems


def _has_limits(settings: Settings) -> bool:
    return any(u.rate_limit for u in settings.upstreams.values()) or any(
        c.rate_limit or c.method_limits for c in settings.callers.values()
    )


def port_problem(settings: Settings) -> str | None:
    """Bind the callers' port once, before any worker tries: a taken port fails the start."""
    try:
        socket.create_server((settings.listen.host, settings.listen.port)).close()
    except OSError as exc:
        return f"listen: cannot bind {settings.listen}: {exc.strerror}"
    return None


@dataclass
class _Slot:
    index: int
    socket: str
    process: asyncio.subprocess.Process | None = None
    starts: int = 0
    restarts: int = 0
    misses: int = 0  # heartbeats in a row this worker has not answered
    answered: bool = False  # has answered a heartbeat since it started

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # exited since the check
                self.process.send_signal(signum)

    @property
    def wedged(self) -> bool:
        return self.answered and self.misses >= WEDGED_AFTER


class Supervisor:
    def __init__(self, settings: Settings, config_path: Path, workers: int) -> None:
        self.settings = settings
        self.path = config_path
        self.draining = False
        self._rundir = Path(tempfile.mkdtemp(prefix="oma-gateway-"))
        self._snapshot = self._rundir / "config.yaml"
        self._slots = [_Slot(i, str(self._rundir / f"worker-{i}.sock")) for i in range(workers)]
        self._stop = asyncio.Event()
        self._hup = asyncio.Event()
        self._fatal = False

    # What the admin port reads (workeradmin.WorkerView).
    def sockets(self) -> Sequence[tuple[int, str]]:
        return [(slot.index, slot.socket) for slot in self._slots]

    def unresponsive(self) -> Sequence[int]:
        return [slot.index for slot in self._slots if slot.wedged]

    def families(self) -> Iterator[Metric]:
        alive = sum(1 for s in self._slots if s.process and s.process.returncode is None)
        restarts = {s.index: s.restarts for s in self._slots}
        return supervisor_families(alive, len(self._slots), restarts, float(self.draining))

    def run(self) -> int:
        logs.configure(stdlib=True, level=logs.level_number(self.settings.log_level))  # JSON too
        try:
            return asyncio.run(self._run())
        finally:
            shutil.rmtree(self._rundir, ignore_errors=True)

    async def _run(self) -> int:
        self._snapshot.write_bytes(self.path.read_bytes())
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._hup.set)
        admin = web.AppRunner(create_supervisor_admin_app(self), access_log=None)
        await admin.setup()
        try:
            await web.TCPSite(admin, self.settings.admin_listen.host,
                              self.settings.admin_listen.port).start()  # fmt: skip
        except OSError as exc:
            log.error("cannot_listen", admin=str(self.settings.admin_listen), error=exc.strerror)
            await admin.cleanup()
            return EXIT_CANNOT_START
        keepers = [asyncio.create_task(self._keep(slot)) for slot in self._slots]
        helpers = [asyncio.create_task(self._reloads()), asyncio.create_task(self._heartbeats())]
        if self.settings.watch_files:
            helpers.append(asyncio.create_task(watch_files(self.path, self._hup)))
        log.info("supervisor_started", workers=len(self._slots), listen=str(self.settings.listen),
                 admin=str(self.settings.admin_listen))  # fmt: skip
        await self._stop.wait()
        codes = await self._drain(keepers)
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        await admin.cleanup()
        log.info("supervisor_stopped", exit_codes=codes)
        if self._fatal:
            return EXIT_CANNOT_START
        return 0 if all(code == 0 for code in codes) else 1

    async def _drain(self, keepers: list[asyncio.Task[int]]) -> list[int]:
        self.draining = True  # the pod's /readyz answers 503 from here on
        log.info("supervisor_draining")
        for slot in self._slots:
            slot.signal(signal.SIGTERM)
        bound = self.settings.drain_delay + self.settings.drain_timeout + KILL_MARGIN
        _, late = await asyncio.wait(keepers, timeout=bound)
        for slot in self._slots:
            if late and slot.process is not None and slot.process.returncode is None:
                log.error("worker_killed", worker=slot.index, after=bound)
                slot.signal(signal.SIGKILL)
        return list(await asyncio.gather(*keepers))

    async def _keep(self, slot: _Slot) -> int:
        """Run the slot's worker until draining, restarting it with backoff when it dies."""
        backoff = RESTART_FIRST
        while True:
            started = asyncio.get_running_loop().time()
            code = await self._run_worker(slot)
            if self.draining:
                return code
            if code == EXIT_CANNOT_START and slot.starts == 1:
                log.error("worker_cannot_start", worker=slot.index, exit_code=code)
                self._fatal = True
                self._stop.set()
                return code
            if asyncio.get_running_loop().time() - started >= STABLE_AFTER:
                backoff = RESTART_FIRST
            log.error("worker_died", worker=slot.index, exit_code=code, restart_in=backoff)
            slot.restarts += 1
            if await _stopped_within(self._stop, backoff):
                return code
            backoff = min(backoff * 2, RESTART_CAP)

    async def _run_worker(self, slot: _Slot) -> int:
        argv = [sys.executable, "-m", "gateway", "serve", "--config", str(self._snapshot),
                "--listen", str(self.settings.listen), "--workers", str(len(self._slots)),
                "--worker-admin", slot.socket]  # fmt: skip
        # The worker count also divides each worker's outage budget (gateway.store.WORKERS_ENV);
        # its own pipe, relayed line by line (relay): lines of several workers never mix.
        env = {**os.environ, WORKERS_ENV: str(len(self._slots))}
        slot.process = await asyncio.create_subprocess_exec(*argv, env=env, stdout=subprocess.PIPE,
                                                            limit=_PIPE_LIMIT)  # fmt: skip
        slot.starts += 1
        slot.misses, slot.answered = 0, False
        log.info("worker_started", worker=slot.index, pid=slot.process.pid)
        assert slot.process.stdout is not None
        relaying = asyncio.create_task(relay_lines(slot.process.stdout))
        code = await slot.process.wait()
        await relaying  # everything it wrote before it ended reaches stdout
        return code

    async def _heartbeats(self) -> None:
        """Ask every worker's /healthz; one that stops answering (wedged, SIGSTOPped, stuck in a
        loop) is killed after `WEDGED_AFTER` misses, and `_keep` restarts it."""
        while True:
            await asyncio.sleep(HEARTBEAT)
            beats = await asyncio.gather(*(heartbeat(slot.socket) for slot in self._slots))
            for slot, alive in zip(self._slots, beats, strict=True):
                self._beat(slot, alive)

    def _beat(self, slot: _Slot, alive: bool) -> None:
        if self.draining or slot.process is None or slot.process.returncode is not None:
            return
        slot.misses = 0 if alive else slot.misses + 1
        slot.answered = slot.answered or alive
        if slot.wedged:
            log.error("worker_unresponsive", worker=slot.index, pid=slot.process.pid,
                      missed=slot.misses)  # fmt: skip
            slot.signal(signal.SIGKILL)

    async def _reloads(self) -> None:
        while True:
            await self._hup.wait()
            self._hup.clear()
            await self._reload()

    async def _reload(self) -> None:
        """Validate what the file says now; only a valid config reaches the workers."""
        candidate = self._rundir / "candidate.yaml"
        try:
            await asyncio.to_thread(shutil.copyfile, self.path, candidate)
            settings = await asyncio.to_thread(load_settings, candidate)
            problems = worker_problems(settings, len(self._slots))
        except (ConfigError, OSError) as exc:
            problems = exc.problems if isinstance(exc, ConfigError) else [f"{self.path}: {exc}"]
        if problems:
            log.error("config_reload_refused", problems=problems)
            return
        candidate.replace(self._snapshot)  # atomic: a worker restarting now reads one or the other
        self.settings = keep_restart_only(settings, self.settings)
        for slot in self._slots:
            slot.signal(signal.SIGHUP)
        log.info("config_reload_forwarded", workers=len(self._slots))


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
