"""Child processes of the benchmark: free ports, CPU pinning, readiness and certain cleanup.

Every child runs in its own session (process group) so that stopping it also stops anything it
forked (nginx workers, a shell wrapper); `Children` kills them all on exit, whatever happened.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def raise_nofile() -> int:
    """Raise this process's open-file limit to its hard limit (children inherit it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def pinned(cmd: Sequence[str], cpus: str | None) -> list[str]:
    """`cmd` prefixed with `taskset -c CPUS` when pinning is asked for and possible."""
    if cpus is None or os.cpu_count() is None or (os.cpu_count() or 1) < 2:
        return list(cmd)
    return ["taskset", "-c", cpus, *cmd]


def run_pinned(cmd: Sequence[str], cpus: str | None, timeout: float) -> str:
    """Run a load generator to completion, pinned, dying with us; its stdout and stderr."""
    out = subprocess.run(  # noqa: S603 - our own command lines
        pinned(cmd, cpus),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=die_with_parent,
    )
    return out.stdout + out.stderr


def _check_alive(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is not None:
        raise RuntimeError(f"process exited with status {proc.returncode} before it was ready")


def wait_port(
    port: int, timeout: float = 15.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Return once 127.0.0.1:port accepts a connection; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _check_alive(proc)
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def http_ok(url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None) -> bytes:
    """GET (or POST `body`) `url` on loopback; return the body of a 2xx answer or raise."""
    req = urllib.request.Request(url, data=body, headers=dict(headers or {}))  # noqa: S310
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback URLs we build
        data: bytes = resp.read()
        return data


def wait_http(
    url: str, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None
) -> bytes:
    """GET `url` until it answers 2xx; return that body; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        _check_alive(proc)
        try:
            return http_ok(url)
        except (OSError, urllib.error.URLError) as exc:
            last = exc
            time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s: {last}")


class Children:
    """Owns started processes; on exit each process group gets SIGTERM, then SIGKILL."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(
        self, name: str, cmd: Sequence[str], env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.logdir / f"{name}.log", "wb")  # noqa: SIM115 - the child owns it
        full_env = {**os.environ, **(env or {})}
        proc = subprocess.Popen(  # noqa: S603 - commands built by the bench itself
            list(cmd),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,
            preexec_fn=die_with_parent,  # the bench is single-threaded while it starts children
        )
        log.close()
        self.procs.append((name, proc))
        return proc

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.logdir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
        """Stop one child's whole process group, politely first."""
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace)
        _signal_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
        self.procs = [(n, p) for n, p in self.procs if p is not proc]

    def __enter__(self) -> Children:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for _, proc in reversed(list(self.procs)):
            self.stop(proc)


def print_table(prefix: str, build: Callable[[Path], str]) -> int:
    """`build(tmp)` in a fresh temporary folder, its table printed; the folder removed after,
    kept (and named on stderr) when it failed. SIGTERM unwinds like Ctrl-C, so every child a
    `Children` block started is stopped on the way out."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    raise_nofile()
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        table = build(tmp)
    except Exception:
        print(f"[bench] failed; child logs kept in {tmp}", file=sys.stderr, flush=True)
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    print(table, flush=True)
    return 0


def die_with_parent() -> None:
    """In the child before exec: be killed if the bench dies without cleaning up (SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def vm_hwm_kib(pid: int) -> int:
    """Peak resident set size (VmHWM) of a live process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise LookupError(f"no VmHWM for pid {pid}")
