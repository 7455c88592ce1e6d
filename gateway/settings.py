"""The gateway's settings: frozen, typed, and built once from the config file by `validation`.

Nothing here reads files or the environment; `validation` does that and reports every problem at
once. Secrets are held as `Secret` so a settings object can be printed safely.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import IPv4Network, IPv6Network
from typing import Literal

from .secrets import Secret

__all__ = [
    "SANDBOX_URL",
    "AuditSettings",
    "CallerKey",
    "CallerSettings",
    "HostPort",
    "RateSpec",
    "Settings",
    "StoreSettings",
    "TracingSettings",
    "UpstreamSettings",
]

#: An upstream URL that means "the bundled sandbox, started in this process" (demo and local work).
SANDBOX_URL = "sandbox:"

OnError = Literal["fail_open", "fail_closed"]
Durability = Literal["flush", "interval", "fsync"]


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class RateSpec:
    """A GCRA limit: `rate` requests per second on average, bursts of up to `burst`."""

    rate: float
    burst: int
    #: Count and log what would be denied, but deny nothing (for rolling a limit out).
    shadow: bool = False

    @property
    def emission_interval(self) -> float:
        return 1.0 / self.rate


@dataclass(frozen=True, slots=True)
class CallerKey:
    digest: str  # "sha256:<hex>"
    expires: datetime | None = None

    @property
    def key_id(self) -> str:
        """What logs and metrics may name: a prefix of the digest, never the key."""
        return self.digest[len("sha256:") :][:12]


@dataclass(frozen=True, slots=True)
class CallerSettings:
    name: str
    keys: tuple[CallerKey, ...]
    upstream: str
    allow: tuple[str, ...]
    deny: tuple[str, ...] = ()
    rate_limit: RateSpec | None = None
    method_limits: Mapping[str, RateSpec] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    name: str
    url: str  # methods are POSTed to f"{url}/{method}"
    user: str
    password: Secret
    client: str = "oma-gateway"
    token_lifetime: float = 3 * 3600.0
    timeout: float = 20.0
    rate_limit: RateSpec | None = None
    #: Connections kept to this upstream at most (0: no cap). Calls beyond it wait for one.
    max_connections: int = 1024
    #: An HTTP CONNECT proxy on the way to OMA (http://HOST:PORT).
    proxy: str | None = None
    #: Take the proxy from HTTPS_PROXY / HTTP_PROXY / NO_PROXY when `proxy` is not set.
    trust_env: bool = False
    #: A CA to trust for this upstream besides the system store (test clusters).
    ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class StoreSettings:
    url: str = "memory://"
    on_error: OnError = "fail_open"
    #: AES-GCM key for session tokens kept in a shared store (32 bytes).
    encryption_key: Secret | None = None
    #: Keys that may still decrypt what an earlier key wrote, during a key rotation.
    previous_encryption_keys: tuple[Secret, ...] = ()
    #: Bound on every store call: an outage slows a handful of requests, never every one.
    timeout: float = 0.1
    #: With fail_open: while the store is down, each replica enforces the limits on its own
    #: (a per-replica budget) instead of admitting everything.
    local_fallback: bool = True
    #: A CA to trust for `rediss://` besides the system store.
    ca_file: str | None = None

    @property
    def is_shared(self) -> bool:
        return not self.url.startswith("memory://")


@dataclass(frozen=True, slots=True)
class AuditSettings:
    file: str | None = None  # None: stdout only ("-" in the config)
    durability: Durability = "interval"
    fsync_interval: float = 1.0
    on_error: OnError = "fail_open"


@dataclass(frozen=True, slots=True)
class TracingSettings:
    """OpenTelemetry export; without `otlp_endpoint` trace ids are still read, made and logged."""

    #: An OTLP/HTTP collector's base URL: spans are POSTed to {otlp_endpoint}/v1/traces.
    otlp_endpoint: str | None = None
    service_name: str = "oma-gateway"


IPNetwork = IPv4Network | IPv6Network


@dataclass(frozen=True, slots=True)
class Settings:
    upstreams: Mapping[str, UpstreamSettings]
    callers: Mapping[str, CallerSettings]
    listen: HostPort = HostPort("127.0.0.1", 8080)
    admin_listen: HostPort = HostPort("127.0.0.1", 9090)
    max_body: int = 1024 * 1024
    store: StoreSettings = StoreSettings()
    audit: AuditSettings = AuditSettings()
    #: How long SIGTERM waits for calls in flight before closing them.
    drain_timeout: float = 20.0
    #: After SIGTERM, how long /readyz says 503 while the listener still accepts, so that load
    #: balancers stop sending before connections would be refused.
    drain_delay: float = 0.0
    tracing: TracingSettings = TracingSettings()
    #: Peers whose X-Forwarded-For is believed (ingresses, load balancers).
    trusted_proxies: tuple[IPNetwork, ...] = ()
    #: Legal but probably unintended settings, as "path: why" (logged at start and reload).
    warnings: tuple[str, ...] = field(default=(), compare=False)
