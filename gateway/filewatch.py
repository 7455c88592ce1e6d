"""Noticing that the config file, or a secret file it names, changed on disk.

Kubernetes updates a mounted ConfigMap or Secret by pointing the volume's `..data` symlink at a
new directory: the file's path stays the same while its real path and inode change, and the old
inode is never written to, so watching the path's inode would miss it. This polls instead: every
`POLL` seconds the real path, inode, size and modification time of the config file and of every
secret file it names; any difference is reported once, and the caller reloads exactly as on
SIGHUP (same validation, an invalid result refused and logged). A handful of `stat` calls every
two seconds is nothing next to serving; the YAML is read again each time so that a secret file
the new config names is watched from then on.

Only inputs are watched (`WATCHED_FIELDS`): never `audit.file`, which the gateway itself writes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import structlog
import yaml

__all__ = ["POLL", "WATCHED_FIELDS", "watch_files", "watched_files"]

log = structlog.get_logger(__name__)

POLL = 2.0  # seconds between looks; kubelet itself syncs mounted volumes every minute or so
WATCHED_FIELDS = frozenset({
    "password_file",
    "encryption_key_file",
    "previous_encryption_key_files",
    "cert_file",
    "key_file",
    "client_ca_file",
    "ca_file",
    "signing_key_file",
})  # fmt: skip

Fingerprint = tuple[tuple[str, object], ...]


def watched_files(config: Path) -> list[Path]:
    """The config file and every secret file its current text names (relative to the cwd)."""
    try:
        document = yaml.safe_load(config.read_text())
    except (OSError, yaml.YAMLError):
        return [config]  # unreadable now: keep watching the file itself
    return [config, *sorted({Path(p) for p in _named_files(document)})]


def _named_files(node: object) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _named_files(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in WATCHED_FIELDS:
                yield from (v for v in (value if isinstance(value, list) else [value])
                            if isinstance(v, str) and v)  # fmt: skip
            else:
                yield from _named_files(value)


def fingerprint(paths: list[Path]) -> Fingerprint:
    return tuple((str(path), _identity(path)) for path in paths)


def _identity(path: Path) -> object:
    try:
        stat = os.stat(path)  # follows the symlinks, to the file kubelet last projected
    except OSError:
        return None
    return (os.path.realpath(path), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


async def watch_files(config: Path, changed: asyncio.Event, poll: float = POLL) -> None:
    """Set `changed` whenever the watched files differ from the last look. Runs until cancelled."""
    seen = await asyncio.to_thread(lambda: fingerprint(watched_files(config)))
    while True:
        await asyncio.sleep(poll)
        now = await asyncio.to_thread(lambda: fingerprint(watched_files(config)))
        if now != seen:
            differ = sorted({name for name, _ in set(now) ^ set(seen)})
            log.info("config_files_changed", files=differ)
            seen = now
            changed.set()
