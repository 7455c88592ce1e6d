"""The one place a serving process is put together, around the callers' app.

`create_app` builds the request path and the long-lived parts (keys, limiter, custody, audit,
metrics). `assemble` adds, in one place, what a running process needs around it: the key-expiry
gauge and log lines, the TLS context of the callers' port, `Connection: close` on every answer
while draining, reloads (SIGHUP and watched files), and the admin app that reads all of it.
`serve` then only listens, waits and drains.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from .admin import create_admin_app
from .app import GATEWAY, create_app
from .keyexpiry import watch_key_expiry
from .reloads import reload_triggers
from .settings import Settings
from .tls import TLS_CONTEXT, server_context

__all__ = ["Assembled", "assemble"]


@dataclass(frozen=True, slots=True)
class Assembled:
    app: web.Application  # the callers' port
    admin: web.Application  # /healthz, /readyz, /metrics


def assemble(
    settings: Settings, config_path: Path | None = None, *, workers: int = 1, watch: bool = True
) -> Assembled:
    """`watch`: reload when the config file or its secret files change (a worker does not: its
    supervisor watches, validates and signals it)."""
    app = create_app(settings)
    if settings.tls is not None:
        app[TLS_CONTEXT] = server_context(settings.tls)
    watch_key_expiry(app)
    app.on_response_prepare.append(close_while_draining)
    if config_path is not None:
        watch = watch and settings.watch_files
        app.cleanup_ctx.append(reload_triggers(config_path, workers, watch=watch))
    return Assembled(app, create_admin_app(app))


async def close_while_draining(request: web.Request, response: web.StreamResponse) -> None:
    """While draining, every answer says `Connection: close` and the connection closes after it:
    a keep-alive client opens its next connection, which the balancer sends to another replica,
    instead of reusing this one until the listener closes under it."""
    gateway = request.app.get(GATEWAY)
    if gateway is not None and gateway.draining:
        response.force_close()  # the connection closes after this answer
        response.headers["Connection"] = "close"  # headers are already prepared: say so too
