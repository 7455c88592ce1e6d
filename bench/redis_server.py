"""A throw-away redis-server on a free loopback port, nothing persisted."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.procs import free_port, wait_port


def find_redis() -> str | None:
    return shutil.which("redis-server")


def command(binary: str, port: int, workdir: Path) -> list[str]:
    return [
        binary,
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--save", "",
        "--appendonly", "no",
        "--dir", str(workdir),
        "--protected-mode", "yes",
        "--maxclients", "10000",
    ]  # fmt: skip


@contextlib.contextmanager
def running() -> Iterator[str]:
    """A redis-server for the length of the block; yields its URL."""
    binary = find_redis()
    assert binary, "redis-server is required"
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        cmd = command(binary, port, Path(workdir))
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)  # noqa: S603 - our own arguments
        try:
            wait_port(port, proc=proc)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=10)
