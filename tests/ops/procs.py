"""Real processes for the operations tests: the sandbox, the gateway, their output, their end.

Every process starts in its own session (process group), so cleanup reaches a supervisor's
workers too; cleanup always runs (context managers) and kills what is still alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.secrets import digest

from ..support import KEYS, OMA_PASSWORD, OMA_USER, free_port

PASSWORD_ENV = {"OMA_TEST_PASSWORD": OMA_PASSWORD}


@dataclass
class Proc:
    popen: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _seen: threading.Condition = field(default_factory=threading.Condition)

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._seen:
                self.lines.append(line.rstrip("\n"))
                self._seen.notify_all()

    def count(self, text: str) -> int:
        with self._seen:
            return sum(text in line for line in self.lines)

    def wait_for(self, text: str, count: int = 1, timeout: float = 15.0) -> None:
        """Block until `text` has appeared in `count` lines of output."""
        deadline = time.monotonic() + timeout
        with self._seen:
            while sum(text in line for line in self.lines) < count:
                left = deadline - time.monotonic()
                if left <= 0 or (self.popen.poll() is not None and not self._seen.wait(0.2)):
                    raise AssertionError(f"{text!r} x{count} not seen; output:\n{self.output()}")
                self._seen.wait(min(left, 0.2))

    def worker_pid(self, index: int) -> int:
        """The pid the supervisor last logged for worker `index` (console or JSON log lines)."""
        pids = [
            int(pid[1])
            for line in list(self.lines)
            if "worker_started" in line
            and (worker := re.search(r"worker\W+(\d+)", line))
            and int(worker[1]) == index
            and (pid := re.search(r"pid\W+(\d+)", line))
        ]
        assert pids, self.output()
        return pids[-1]

    def output(self) -> str:
        return "\n".join(self.lines[-80:])

    def signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout)


@contextlib.contextmanager
def gateway_process(*args: str, env: Mapping[str, str] | None = None) -> Iterator[Proc]:
    """`python -m gateway ARGS`, its stdout and stderr merged and collected line by line."""
    popen = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "gateway", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **PASSWORD_ENV, **(env or {})},
        start_new_session=True,
    )
    proc = Proc(popen)
    reader = threading.Thread(target=proc._read, daemon=True)
    reader.start()
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(10)
        reader.join(5)
        if popen.stdout is not None:
            popen.stdout.close()


@contextlib.contextmanager
def sandbox_process(*flags: str) -> Iterator[str]:
    """The bundled sandbox as its own process; yields its API URL."""
    with gateway_process("sandbox", "--listen", "127.0.0.1:0", *flags) as proc:
        proc.wait_for("OMA sandbox listening on")
        match = re.search(r"listening on (\S+/api)", proc.output())
        assert match, proc.output()
        yield match[1]


@dataclass
class Ports:
    listen: int = field(default_factory=free_port)
    admin: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listen}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin}"


def config(
    oma_url: str,
    ports: Ports,
    keys: Mapping[str, Sequence[Any]],
    *,
    timeout: str = "5s",
    **top: Any,
) -> dict[str, Any]:
    """A config document: one upstream, each caller allowed everything with the keys given
    (a caller's name from `KEYS`, or a `{"digest": ..., "expires": ...}` mapping)."""
    return {
        "listen": f"127.0.0.1:{ports.listen}",
        "admin_listen": f"127.0.0.1:{ports.admin}",
        "upstreams": {
            "oma": {
                "url": oma_url,
                "user": OMA_USER,
                "password_env": "OMA_TEST_PASSWORD",
                "timeout": timeout,
            }
        },
        "callers": {
            name: {"keys": [_key(k) for k in caller_keys], "allow": ["*"]}
            for name, caller_keys in keys.items()
        },
        **top,
    }


def _key(key: Any) -> Any:
    return {"digest": digest(KEYS[key])} if isinstance(key, str) else key


def write_config(path: Path, document: Mapping[str, Any]) -> Path:
    """Written whole then renamed, as a config management tool (or kubelet) would."""
    draft = path.with_suffix(".draft")
    draft.write_text(yaml.safe_dump(dict(document)))
    draft.replace(path)
    return path


async def samples(admin_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the pod's /metrics, by name and sorted labels."""
    async with aiohttp.ClientSession() as session, session.get(f"{admin_url}/metrics") as got:
        text = await got.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def wait_ready(admin_url: str, timeout: float = 20.0) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(f"{admin_url}/readyz", timeout=2) as answer,  # noqa: S310
        ):
            if answer.status == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{admin_url}/readyz never answered 200")


async def until(
    what: str,
    check: Callable[[], Awaitable[object]],
    want: object = True,
    seconds: float = 3.0,
    every: float = 0.02,
) -> None:
    """Poll `check()` until it answers `want`, for up to `seconds`."""
    for _ in range(max(1, round(seconds / every))):
        if await check() == want:
            return
        await asyncio.sleep(every)
    raise AssertionError(f"{what} never became {want!r} within {seconds:g} s")


def post_json(url: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> tuple[int, Any]:
    """POST `body` as JSON to a gateway of the test's own; its status and decoded answer, also for
    a refusal."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=dict(headers))  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())
