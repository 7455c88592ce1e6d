"""A throw-away redis-server on a free loopback port, nothing persisted."""

from __future__ import annotations

import shutil
from pathlib import Path


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
