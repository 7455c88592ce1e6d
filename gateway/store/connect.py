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

from .scripts import Client

__all__ = ["CLUSTER_SCHEMES", "SCHEMES", "connect", "is_cluster"]

SCHEMES = ("redis://", "rediss://", "unix://")
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")
MAX_CONNECTIONS = 256  # per process (per cluster node): a bound, not a target


def is_cluster(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEMES)


def connect(url: str, timeout: float, ca_file: str | None = None) -> Client:
    """A client that connects lazily, on its first command (no I/O here). `ca_file` is trusted
    for `rediss://` besides the system store, without touching the process's trust for OMA."""
    # One immediate retry only: it replaces a pooled connection that died with a server restart;
    # anything longer is the breaker's business. hiredis parses replies when it is installed.
    retry = Retry(NoBackoff(), 1)
    tls: dict[str, Any] = {"ssl_ca_certs": ca_file} if ca_file and url.startswith("rediss") else {}
    if is_cluster(url):
        return RedisCluster.from_url(
            url.replace("+cluster", "", 1),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=retry,
            max_connections=MAX_CONNECTIONS,
            **tls,
        )
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=retry,
        max_connections=MAX_CONNECTIONS,
        **tls,
    )
