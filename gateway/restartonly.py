"""The settings a running process cannot take over on reload, named once.

A reload (SIGHUP, or a watched file changing) swaps callers, keys, allowlists, limits and
upstreams whole. Some settings are bound when the process starts and stay bound: the sockets
(`listen`, `admin_listen`), the store and its limiter (`store`), the audit writer (`audit`), the
runner's shutdown bound (`drain_timeout`), the logger (`log_level`) and the file watcher
(`watch_files`), the callers' connection limits (`client_timeout`, `keepalive_timeout`,
`max_connections`, bound into the listening site) and the span exporter (`tracing`). TLS stays
on or off as it started; its certificate and key are re-read on every reload. If a reload
copied a new value of one of those into the running settings, the settings would claim a
behaviour the process does not have (readiness reading the new `store.on_error` while the
limiter keeps the old one). So every reload path (the single process and the supervisor) keeps
the running values of exactly these, and names the ones that changed: they take effect at the
next restart.
"""

from __future__ import annotations

import dataclasses

import structlog

from .settings import Settings, TlsSettings

__all__ = ["RESTART_ONLY", "keep_restart_only"]

log = structlog.get_logger(__name__)

RESTART_ONLY = (
    "listen", "admin_listen", "store", "audit", "drain_timeout", "log_level", "watch_files",
    "client_timeout", "keepalive_timeout", "max_connections", "tracing",
)  # fmt: skip


def keep_restart_only(new: Settings, running: Settings) -> Settings:
    """`new`, with the running value of every restart-only setting; logs which ones differed."""
    changed = [name for name in RESTART_ONLY if getattr(new, name) != getattr(running, name)]
    if changed:
        log.warning("config_reload_needs_restart", settings=changed)
    kept = {name: getattr(running, name) for name in RESTART_ONLY}
    if (new.tls is None) != (running.tls is None):
        log.warning("config_reload_needs_restart", settings=["tls"])
        kept["tls"] = running.tls
    elif new.tls is not None and running.tls is not None:
        kept["tls"] = _client_certificates(new.tls, running.tls)
    return dataclasses.replace(new, **kept)


def _client_certificates(new: TlsSettings, running: TlsSettings) -> TlsSettings:
    """Whether the port asks for client certificates is fixed at start (gateway.tls). Turned on
    by a reload, it stays off until a restart; turned off, the CAs go at once (a certificate
    then fails the handshake, since the port still asks for one) and a restart stops asking."""
    if (new.client_ca_file is None) == (running.client_ca_file is None):
        return new
    log.warning("config_reload_needs_restart", settings=["tls.client_ca_file"])
    return new if new.client_ca_file is None else dataclasses.replace(new, client_ca_file=None)
