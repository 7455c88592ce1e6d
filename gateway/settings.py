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
    "CallerParams",
    "CallerSettings",
    "ChangeRules",
    "HostPort",
    "RateSpec",
    "SessionTokenSettings",
    "Settings",
    "StoreSettings",
    "TlsSettings",
    "TokenRules",
    "TracingSettings",
    "UpstreamSettings",
]

#: An upstream URL that means "the bundled sandbox, started in this process" (demo and local work).
SANDBOX_URL = "sandbox:"

OnError = Literal["fail_open", "fail_closed"]
RefusalStatus = Literal["auto", "http", "oma"]
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


Upsert = Literal["any", "create_only"]


@dataclass(frozen=True, slots=True)
class TokenRules:
    """`params.generate_token`: what a caller may ask `generate_token` for."""

    types: tuple[str, ...] = ("sso",)
    oma: bool = False  # may it set `oma: true`
    max_duration: float = 24 * 3600.0  # seconds (OMA counts `duration` in hours)
    #: Whether the config named `types`. Not a setting: the default is safe, but check-config
    #: warns when a caller's token types were inherited rather than chosen.
    types_given: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class ChangeRules:
    """`params.change_user` / `params.change_domain`."""

    attributes: tuple[str, ...] | None = None  # None: any attribute OMA takes
    #: OMA's change_* create a missing object; `create_only` forces OMA's own create_only flag,
    #: so the call can create but never modify.
    upsert: Upsert = "any"


@dataclass(frozen=True, slots=True)
class CallerParams:
    generate_token: TokenRules = TokenRules()
    change_user: ChangeRules = ChangeRules()
    change_domain: ChangeRules = ChangeRules()


@dataclass(frozen=True, slots=True)
class SessionTokenSettings:
    """`session_tokens`: OMA token mode through the gateway (`authenticate` answered here)."""

    max_lifetime: float = 3 * 3600.0  # seconds


@dataclass(frozen=True, slots=True)
class CallerSettings:
    name: str
    keys: tuple[CallerKey, ...]
    upstream: str
    allow: tuple[str, ...]
    deny: tuple[str, ...] = ()
    rate_limit: RateSpec | None = None
    method_limits: Mapping[str, RateSpec] = field(default_factory=dict)
    #: `scope.domains`: shell patterns over domain names; None: no scope (the whole account).
    scope: tuple[str, ...] | None = None
    params: CallerParams = CallerParams()
    #: None: `session_tokens: false` (the caller may not use token mode).
    session_tokens: SessionTokenSettings | None = SessionTokenSettings()
    #: Client-certificate names (SAN URI, SAN DNS, else CN) that identify this caller.
    tls_identities: tuple[str, ...] = ()


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
    #: Largest answer read (bytes, after decompression); a larger one is upstream_unavailable.
    max_answer: int = 32 * 1024 * 1024
    #: One caller's calls in flight to this upstream at most; None: half of max_connections.
    max_in_flight_per_caller: int | None = None
    #: A CA (PEM) trusted for this upstream besides the system's trust store.
    ca_file: str | None = None
    #: Allow an http:// URL to a host that is not loopback (the token then crosses in clear).
    insecure_http: bool = False
    #: An HTTP CONNECT proxy on the way to OMA (http://HOST:PORT).
    proxy: str | None = None
    #: Take the proxy from HTTPS_PROXY / HTTP_PROXY / NO_PROXY when `proxy` is not set.
    trust_env: bool = False

    @property
    def in_flight_per_caller(self) -> int:
        """The effective per-caller bound (0: none): a caller may fill half the pool at most."""
        if self.max_in_flight_per_caller is not None:
            return self.max_in_flight_per_caller
        return max(1, self.max_connections // 2) if self.max_connections else 0


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
    #: The Redis password (from password_env or password_file, never the URL).
    password: Secret | None = None
    #: A CA (PEM) to verify a rediss:// server with.
    ca_file: str | None = None
    #: Replicas (pods) sharing this store: during an outage each process enforces
    #: 1 / (replicas x workers) of every limit, so the fleet as a whole stays near the limit.
    replicas: int = 1

    @property
    def is_shared(self) -> bool:
        return not self.url.startswith("memory://")


@dataclass(frozen=True, slots=True)
class AuditSettings:
    file: str | None = None  # None: stdout only ("-" in the config)
    durability: Durability = "interval"
    fsync_interval: float = 1.0
    on_error: OnError = "fail_open"
    #: Ed25519 private key (PEM, PKCS#8) signing the checkpoints; None: no checkpoints, and the
    #: chain is then evidence against accidents only, not against whoever can write the file.
    signing_key: Secret | None = None
    #: A signed checkpoint at least this often after a record (and at rotation and close).
    checkpoint_interval: float = 10.0


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """`tls`: the callers' port speaks HTTPS only; files re-read on SIGHUP."""

    cert_file: str
    key_file: str
    #: Verify client certificates against this CA (asked for, not required): they identify
    #: callers by `tls_identities`.
    client_ca_file: str | None = None


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
    drain_delay: float = 5.0
    #: debug, info, warning or error; OMA_GATEWAY_LOG_LEVEL, when set, wins over the file.
    log_level: str = "info"
    #: Reload when the config file or a secret file it names changes on disk (filewatch).
    watch_files: bool = True
    #: How the gateway's own refusals are sent: `http` statuses, `oma` (HTTP 200, as OMA answers
    #: its errors), or `auto` (`oma` for calls with OMA-style body credentials).
    refusal_status: RefusalStatus = "auto"
    tls: TlsSettings | None = None
    #: Time a caller has to send a whole request (headers and body); then its connection closes.
    client_timeout: float = 10.0
    #: An idle keep-alive connection of a caller is closed after this.
    keepalive_timeout: float = 75.0
    #: Callers' connections open at once per process (lowered further to fit the fd limit).
    max_connections: int = 4096
    #: Bytes held at once, per process, by bodies still arriving for callers not yet identified
    #: (no header key): 4 KiB for each of `max_connections` (bodybudget).
    max_unidentified_bodies: int = 16 * 1024 * 1024
    tracing: TracingSettings = TracingSettings()
    #: Peers whose X-Forwarded-For is believed (ingresses, load balancers).
    trusted_proxies: tuple[IPNetwork, ...] = ()
    #: Legal but probably unintended settings, as "path: why" (logged at start and reload).
    warnings: tuple[str, ...] = field(default=(), compare=False)
