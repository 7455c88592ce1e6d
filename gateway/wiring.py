"""The one place a serving process is put together, around the callers' app.

`create_app` builds the request path and the long-lived parts (keys, limiter, custody, audit,
metrics). `assemble` adds, in one place, what a running process needs around it: the key-expiry
gauge and log lines, the TLS context of the callers' port, the guard of the callers' connections
(bounded by the config and the descriptor limit), `Connection: close` on every answer while
draining, reloads (SIGHUP and watched files), and the admin app that reads all of it. `serve`
then only listens, waits and drains.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from .admin import create_admin_app
from .app import GATEWAY, create_app
from .connections import CONNECTIONS, ConnectionGuard, fd_cap, raise_fd_limit
from .keyexpiry import watch_key_expiry
from .reloads import reload_triggers
from .settings import Settings
from .tls import SERVER_TLS, ServerTls

__all__ = ["Assembled", "assemble", "connection_guard"]


@dataclass(frozen=True, slots=True)
class Assembled:
    app: web.Application  # the callers' port
    admin: web.Application  # /healthz, /readyz, /metrics
    guard: ConnectionGuard  # the callers' connections, which the listening site admits through


def assemble(
    settings: Settings, config_path: Path | None = None, *, workers: int = 1, watch: bool = True
) -> Assembled:
    """`watch`: reload when the config file or its secret files change (a worker does not: its
    supervisor watches, validates and signals it)."""
    app = create_app(settings)
    if settings.tls is not None:
        app[SERVER_TLS] = ServerTls(settings.tls)
    app[CONNECTIONS] = guard = connection_guard(settings)
    watch_key_expiry(app)
    app.on_response_prepare.append(close_while_draining)
    if config_path is not None:
        watch = watch and settings.watch_files
        app.cleanup_ctx.append(reload_triggers(config_path, workers, watch=watch))
    return Assembled(app, create_admin_app(app), guard)


def connection_guard(settings: Settings) -> ConnectionGuard:
    """Callers' connections bounded by the config and by what the fd limit can hold (the soft
    limit is lifted to the hard one first)."""
    cap = fd_cap(settings.max_connections, raise_fd_limit(), _upstream_sockets(settings))
    return ConnectionGuard(client_timeout=settings.client_timeout, max_connections=cap)


def _upstream_sockets(settings: Settings) -> int | None:
    """Upstream sockets this process may open at most: per upstream its call pool and its
    aiohttp session (downloads, proxies), each `max_connections`; None when one is unbounded."""
    sizes = [u.max_connections for u in settings.upstreams.values()]
    return None if 0 in sizes else 2 * sum(sizes)


async def close_while_draining(request: web.Request, response: web.StreamResponse) -> None:
    """While draining, every answer says `Connection: close` and the connection closes after it:
    a keep-alive client opens its next connection, which the balancer sends to another replica,
    instead of reusing this one until the listener closes under it."""
    gateway = request.app.get(GATEWAY)
    if gateway is not None and gateway.draining:
        response.force_close()  # the connection closes after this answer
        response.headers["Connection"] = "close"  # headers are already prepared: say so too
