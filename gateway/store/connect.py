"""One Redis client (one connection pool) per process, from the store URL.

`redis://HOST:PORT/DB`, `rediss://` (TLS) and `unix://PATH` reach one server;
`redis+cluster://HOST:PORT` and `rediss+cluster://HOST:PORT` reach a Redis Cluster through any of
its nodes (the client discovers the others). Timeouts are short on purpose: the breaker in
`resilient` decides what a slow store means, not the socket.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ..secrets import Secret
from .scripts import Client

__all__ = ["CLUSTER_SCHEMES", "SCHEMES", "connect", "is_cluster"]

SCHEMES = ("redis://", "rediss://", "unix://")
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")
MAX_CONNECTIONS = 256  # per process (per cluster node): a bound, not a target


def is_cluster(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEMES)


def connect(
    url: str, timeout: float, *, password: Secret | None = None, ca_file: str | None = None
) -> Client:
    """A client that connects lazily, on its first command (no I/O here). The password comes
    from `store.password_env` / `password_file`, never the URL; `ca_file` verifies rediss://."""
    # One immediate retry only: it replaces a pooled connection that died with a server restart;
    # anything longer is the breaker's business. hiredis parses replies when it is installed.
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 1),
        "max_connections": MAX_CONNECTIONS,
    }
    if password is not None:
        options["password"] = password.reveal()
    if ca_file is not None and url.startswith("rediss"):
        options["ssl_ca_certs"] = ca_file
    if is_cluster(url):
        return RedisCluster.from_url(url.replace("+cluster", "", 1), **options)
    return Redis.from_url(url, **options)
