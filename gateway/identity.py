"""What is running: version, source revision, and the one startup line that names them.

The revision is, in order: `OMA_GATEWAY_REVISION` (set by a deployment), the `REVISION` file
written into the package at image build time (`docker build --build-arg REVISION=...`), or
`git rev-parse` when running from a checkout; otherwise "unknown".
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import __version__
from .settings import SANDBOX_URL, Settings

__all__ = ["revision", "startup_fields"]


@functools.cache
def revision() -> str:
    given = os.environ.get("OMA_GATEWAY_REVISION", "").strip()
    return given or _built_revision() or _git_revision() or "unknown"


def _built_revision() -> str | None:
    try:
        text = resources.files("gateway").joinpath("REVISION").read_text("utf-8").strip()
    except OSError:
        return None
    return text or None


def _git_revision() -> str | None:
    checkout = Path(__file__).resolve().parent.parent
    git = shutil.which("git")
    if git is None or not (checkout / ".git").exists():
        return None
    try:
        done = subprocess.run(  # noqa: S603 (git, fixed arguments)
            [git, "-C", str(checkout), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def startup_fields(settings: Settings, workers: int) -> dict[str, Any]:
    """The startup line's fields: enough to tell which build serves which config where."""
    return {
        "version": __version__,
        "revision": revision(),
        "store": _where(settings.store.url),
        "upstreams": {name: _where(u.url) for name, u in settings.upstreams.items()},
        "callers": len(settings.callers),
        "workers": workers,
    }


def _where(url: str) -> str:
    """Scheme and host only: never a password or path from the URL."""
    if url == SANDBOX_URL:
        return url
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"
