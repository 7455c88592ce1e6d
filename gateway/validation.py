"""Turn the YAML config into `Settings`, reporting every problem with its field path.

One function per section, each speaking `config_reader.Reader`, so every problem is collected
with its path. Secrets are read here, from the environment or from files, never from the config
text.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import os
import re
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import config_ops
from .config_checks import config_warnings, unknown_method_problems
from .config_reader import UNREAD, ConfigError, Reader
from .errors import BadRequest
from .policy import check_method_name, is_never_forwarded
from .policy.config import read_params, read_scope
from .secrets import Secret
from .settings import (
    SANDBOX_URL,
    AuditSettings,
    CallerKey,
    CallerSettings,
    HostPort,
    RateSpec,
    SessionTokenSettings,
    Settings,
    StoreSettings,
    TlsSettings,
    UpstreamSettings,
)
from .tls import tls_problem
from .units import parse_duration, parse_rate, parse_size

__all__ = ["ConfigError", "load_settings", "parse_settings", "read_settings"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# Every default is written once, as a field default in `settings`; the loader reads it from these
# instances (built with placeholders for the fields that have none), never from a literal.
_TOP = Settings(upstreams={}, callers={})
_STORE = _TOP.store
_AUDIT = _TOP.audit
_UPSTREAM = UpstreamSettings(name="", url="", user="", password=Secret(""))
_RATE = RateSpec(rate=1.0, burst=1)
_TOKENS = SessionTokenSettings()


def load_settings(
    path: str | Path, env: Mapping[str, str] | None = None, *, read_secrets: bool = True
) -> Settings:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from exc
    return parse_settings(document, env, read_secrets=read_secrets)


def parse_settings(
    document: object, env: Mapping[str, str] | None = None, *, read_secrets: bool = True
) -> Settings:
    """`read_secrets=False` checks every secret reference's shape without reading it (for CI);
    the settings it gives hold placeholders and are for checking and showing, not serving."""
    return read_settings(document, Reader(env=os.environ if env is None else env,
                                          read_secrets=read_secrets))  # fmt: skip


def read_settings(document: object, r: Reader) -> Settings:
    """The settings, read with `r` (which keeps the problems, warnings and schema it met)."""
    if not isinstance(document, dict):
        raise ConfigError(["(top): expected a mapping of settings"])
    top = r.mapping(document, "", _TOP_FIELDS)
    upstreams = _upstreams(r, top.get("upstreams"))
    settings = Settings(
        listen=r.convert(top.get("listen"), "listen", _host_port, _TOP.listen),
        admin_listen=r.convert(
            top.get("admin_listen"), "admin_listen", _host_port, _TOP.admin_listen
        ),
        max_body=r.convert(top.get("max_body"), "max_body", parse_size, _TOP.max_body),
        store=_store(r, top.get("store")),
        upstreams=upstreams,
        callers=_callers(r, top.get("callers"), upstreams),
        audit=_audit(r, top.get("audit")),
        drain_timeout=r.convert(
            top.get("drain_timeout"), "drain_timeout", parse_duration, _TOP.drain_timeout
        ),
        drain_delay=r.convert(
            top.get("drain_delay"), "drain_delay", parse_duration, _TOP.drain_delay
        ),
        refusal_status=cast(
            Any,
            r.choice(
                top.get("refusal_status"), "refusal_status", _REFUSAL_STATUSES, _TOP.refusal_status
            ),
        ),
        tls=_tls(r, top.get("tls")),
        client_timeout=_positive(
            r, top.get("client_timeout"), "client_timeout", _TOP.client_timeout
        ),
        keepalive_timeout=_positive(
            r, top.get("keepalive_timeout"), "keepalive_timeout", _TOP.keepalive_timeout
        ),
        max_connections=_at_least_one(
            r, top.get("max_connections", _TOP.max_connections), "max_connections"
        ),
        max_unidentified_bodies=r.convert(
            top.get("max_unidentified_bodies"),
            "max_unidentified_bodies",
            parse_size,
            _TOP.max_unidentified_bodies,
        ),
        log_level=_log_level(r, top.get("log_level")),
        watch_files=_flag(r, top.get("watch_files", _TOP.watch_files), "watch_files"),
        tracing=config_ops.tracing(r, top.get("tracing")),
        trusted_proxies=config_ops.trusted_proxies(r, top.get("trusted_proxies")),
    )
    if settings.listen == settings.admin_listen:
        r.fail("admin_listen", "must differ from listen: the admin port is never the callers'")
    r.warnings += config_warnings(settings)
    if r.problems:
        raise ConfigError(r.problems, r.warnings)
    return dataclasses.replace(settings, warnings=tuple(r.warnings))


_TOP_FIELDS = {
    "listen",
    "admin_listen",
    "max_body",
    "store",
    "upstreams",
    "callers",
    "audit",
    "drain_timeout",
    "drain_delay",
    "refusal_status",
    "tls",
    "client_timeout",
    "keepalive_timeout",
    "max_connections",
    "max_unidentified_bodies",
    "log_level",
    "watch_files",
    "tracing",
    "trusted_proxies",
}

LOG_LEVELS = ("info", "debug", "warning", "error")
LOG_LEVEL_ENV = "OMA_GATEWAY_LOG_LEVEL"
_REFUSAL_STATUSES = ("auto", "http", "oma")


def _log_level(r: Reader, value: object) -> str:
    """The environment wins over the file: a debug session needs no config edit."""
    if r.env.get(LOG_LEVEL_ENV):
        return r.choice(r.env[LOG_LEVEL_ENV].lower(), LOG_LEVEL_ENV, LOG_LEVELS, _TOP.log_level)
    return r.choice(value, "log_level", LOG_LEVELS, _TOP.log_level)


def _tls(r: Reader, value: object) -> TlsSettings | None:
    if value is None:
        return None
    fields = r.mapping(value, "tls", {"cert_file", "key_file", "client_ca_file"})
    files = {}
    for name in ("cert_file", "key_file", "client_ca_file"):
        if name in fields or name != "client_ca_file":
            path = r.string(fields.get(name), f"tls.{name}")
            if path and r.read_secrets and not Path(path).is_file():  # --no-secrets: shape only
                r.fail(f"tls.{name}", f"cannot read {path}")
            files[name] = path
    tls = TlsSettings(files["cert_file"], files["key_file"], files.get("client_ca_file"))
    problem = tls_problem(tls) if r.read_secrets and not r.problems else None
    if problem:
        r.fail("tls", problem)
    return tls


def _positive(r: Reader, value: object, path: str, default: float) -> float:
    seconds = r.convert(value, path, parse_duration, default)
    if seconds <= 0:
        r.fail(path, "expected a duration above 0")
        return default
    return seconds


def _at_least_one(r: Reader, value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        r.fail(path, "expected a whole number, 1 or more")
        return 1
    return value


def _host_port(value: object) -> HostPort:
    text = str(value)
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return HostPort(host.strip("[]"), int(port))


def _store(r: Reader, value: object) -> StoreSettings:
    fields = r.mapping(
        value,
        "store",
        {
            "url",
            "on_error",
            "encryption_key_env",
            "encryption_key_file",
            "previous_encryption_key_envs",
            "password_env",
            "password_file",
            "timeout",
            "local_fallback",
            "ca_file",
            "replicas",
        },
    )
    url = r.string(fields.get("url"), "store.url", _STORE.url)
    if not url.startswith(_STORE_SCHEMES):
        r.fail(
            "store.url",
            "expected memory://, redis://HOST:PORT/DB, rediss://, unix:// or"
            " redis+cluster://HOST:PORT (any node of a Redis Cluster)",
        )
    _store_url_secrets(r, url)
    key = _store_encryption_key(r, fields, shared=not url.startswith("memory://"))
    previous = fields.get("previous_encryption_key_envs") or []
    olds = [
        _store_key(r, name, f"store.previous_encryption_key_envs[{i}]")
        for i, name in enumerate(previous if isinstance(previous, list) else [previous])
    ]
    return StoreSettings(
        url=url,
        on_error=cast(
            Any, r.choice(fields.get("on_error"), "store.on_error", _ON_ERROR, _STORE.on_error)
        ),
        encryption_key=key,
        previous_encryption_keys=tuple(k for k in olds if k is not None),
        timeout=r.convert(fields.get("timeout"), "store.timeout", parse_duration, _STORE.timeout),
        local_fallback=_flag(
            r, fields.get("local_fallback", _STORE.local_fallback), "store.local_fallback"
        ),
        password=_optional_secret(r, fields, "store"),
        ca_file=_readable(r, fields.get("ca_file"), "store.ca_file"),
        replicas=_at_least_one(r, fields.get("replicas", _STORE.replicas), "store.replicas"),
    )


def _store_url_secrets(r: Reader, url: str) -> None:
    # A password in the URL ends up in every place the config is shown or copied.
    if _split(url).password:
        r.fail("store.url", "no password in the URL: use store.password_env or store.password_file")


def _store_encryption_key(r: Reader, fields: dict[str, Any], *, shared: bool) -> Secret | None:
    given = [k for k in ("encryption_key_env", "encryption_key_file") if k in fields]
    if len(given) > 1:
        r.fail("store", "set only one of encryption_key_env or encryption_key_file")
    if not given:
        if shared:
            r.fail("store.encryption_key_env", "required with a shared store")
        return None
    path = f"store.{given[0]}"
    if given[0] == "encryption_key_env":
        return _store_key(r, fields["encryption_key_env"], path)
    return _checked_store_key(r, r.file_secret(fields["encryption_key_file"], path), path)


def _optional_secret(r: Reader, fields: dict[str, Any], path: str) -> Secret | None:
    """A password from `password_env` or `password_file` (at most one), or None."""
    given = [k for k in ("password_env", "password_file") if k in fields]
    if len(given) > 1:
        r.fail(path, "set only one of password_env or password_file")
    if not given:
        return None
    if given[0] == "password_env":
        return r.env_secret(fields["password_env"], f"{path}.password_env")
    return r.file_secret(fields["password_file"], f"{path}.password_file")


def _readable(r: Reader, value: object, path: str) -> str | None:
    """A file that must be readable; under --no-secrets (CI without the mounted files) only its
    shape is checked."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        r.fail(path, "expected a file path")
        return None
    if not r.read_secrets:
        return value
    try:
        Path(value).read_bytes()
    except OSError as exc:
        r.fail(path, f"cannot read {value}: {exc.strerror}")
    return value


def _split(url: str) -> urllib.parse.SplitResult:
    try:
        return urllib.parse.urlsplit(url)
    except ValueError:  # e.g. a malformed IPv6 host: the URL checks report it
        return urllib.parse.urlsplit("")


_ON_ERROR = ("fail_open", "fail_closed")
_STORE_SCHEMES = (
    "memory://",
    "redis://",
    "rediss://",
    "unix://",
    "redis+cluster://",
    "rediss+cluster://",
)


def _flag(r: Reader, value: object, path: str) -> bool:
    if not isinstance(value, bool):
        r.fail(path, "expected true or false")
        return True
    return value


def _store_key(r: Reader, value: object, path: str) -> Secret | None:
    return _checked_store_key(r, r.env_secret(value, path), path)


def _checked_store_key(r: Reader, secret: Secret | None, path: str) -> Secret | None:
    if secret is None or secret is UNREAD:
        return secret
    try:
        raw = base64.urlsafe_b64decode(secret.reveal().encode())
    except ValueError:
        raw = b""
    if len(raw) != 32:
        r.fail(path, "the key must be 32 random bytes in URL-safe base64")
        return None
    return secret


def _rate(r: Reader, value: object, path: str) -> RateSpec | None:
    if value is None:
        return None
    fields = r.mapping(value, path, {"rate", "burst", "shadow"})
    rate = r.convert(fields.get("rate"), f"{path}.rate", parse_rate, 0.0)
    if "rate" not in fields:
        r.fail(f"{path}.rate", "required")
    burst = fields.get("burst", max(1, round(rate)))
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        r.fail(f"{path}.burst", "expected a whole number of at least 1")
        burst = 1
    shadow = fields.get("shadow", _RATE.shadow)
    if not isinstance(shadow, bool):
        r.fail(f"{path}.shadow", "expected true or false")
        shadow = False
    return RateSpec(rate=rate or 1.0, burst=burst, shadow=shadow)


def _upstreams(r: Reader, value: object) -> dict[str, UpstreamSettings]:
    if not isinstance(value, dict) or not value:
        r.fail("upstreams", "expected at least one upstream")
        return {}
    return {
        str(name): _upstream(r, str(name), spec, f"upstreams.{name}")
        for name, spec in value.items()
    }


def _upstream(r: Reader, name: str, value: object, path: str) -> UpstreamSettings:
    if not _NAME.fullmatch(name):
        r.fail(path, "upstream names are letters, digits, '_', '-', '.'")
    fields = r.mapping(
        value,
        path,
        {
            "url",
            "user",
            "password_env",
            "password_file",
            "client",
            "token_lifetime",
            "timeout",
            "rate_limit",
            "max_connections",
            "max_answer",
            "max_in_flight_per_caller",
            "ca_file",
            "insecure_http",
            "proxy",
            "trust_env",
        },
    )
    url = r.string(fields.get("url"), f"{path}.url").rstrip("/")
    insecure = _flag(
        r, fields.get("insecure_http", _UPSTREAM.insecure_http), f"{path}.insecure_http"
    )
    _upstream_url(r, url, f"{path}.url", insecure=insecure)
    lifetime = r.convert(
        fields.get("token_lifetime"),
        f"{path}.token_lifetime",
        parse_duration,
        _UPSTREAM.token_lifetime,
    )
    if not 60 <= lifetime <= 86400:
        r.fail(f"{path}.token_lifetime", "OMA session tokens last from 60s to 24h here")
    return UpstreamSettings(
        name=name,
        url=url,
        user=r.string(fields.get("user"), f"{path}.user"),
        password=_password(r, fields, path) or Secret(""),
        client=r.string(fields.get("client"), f"{path}.client", _UPSTREAM.client),
        token_lifetime=lifetime,
        timeout=r.convert(
            fields.get("timeout"), f"{path}.timeout", parse_duration, _UPSTREAM.timeout
        ),
        rate_limit=_rate(r, fields.get("rate_limit"), f"{path}.rate_limit"),
        max_connections=_count(
            r, fields.get("max_connections", _UPSTREAM.max_connections), f"{path}.max_connections"
        ),
        max_answer=r.convert(
            fields.get("max_answer"), f"{path}.max_answer", parse_size, _UPSTREAM.max_answer
        ),
        max_in_flight_per_caller=_optional_count(r, fields, f"{path}.max_in_flight_per_caller"),
        ca_file=_readable(r, fields.get("ca_file"), f"{path}.ca_file"),
        insecure_http=insecure,
        proxy=config_ops.proxy_url(r, fields.get("proxy"), f"{path}.proxy"),
        trust_env=_flag(r, fields.get("trust_env", _UPSTREAM.trust_env), f"{path}.trust_env"),
    )


def _upstream_url(r: Reader, url: str, path: str, *, insecure: bool) -> None:
    """Refuse URLs that would leak the login or the session token: plain http to a host that is
    not this machine (unless `insecure_http`), credentials, a query or a fragment."""
    if not url or url == SANDBOX_URL:
        return
    parts = _split(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        r.fail(path, f"expected an http(s) URL such as https://admin.a.hostedemail.com/api"
                     f" or {SANDBOX_URL} for the bundled sandbox")  # fmt: skip
        return
    if parts.username is not None or parts.password is not None:
        r.fail(path, "no user info in the URL: the login is the upstream's user and password_*")
    if "?" in url or "#" in url:
        r.fail(path, "no query or fragment: methods are POSTed to {url}/{method}")
    if parts.scheme == "http" and not insecure and not _is_loopback(parts.hostname):
        r.fail(path, "http:// only to a loopback host; use https:// (or insecure_http: true)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _optional_count(r: Reader, fields: dict[str, Any], path: str) -> int | None:
    key = path.rpartition(".")[2]
    return None if fields.get(key) is None else _count(r, fields[key], path)


def _count(r: Reader, value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        r.fail(path, "expected a whole number, 0 or more")
        return 0
    return value


def _password(r: Reader, fields: dict[str, Any], path: str) -> Secret | None:
    given = [k for k in ("password_env", "password_file") if k in fields]
    if "password" in fields:
        r.fail(
            f"{path}.password", "secrets never go in the config: use password_env or password_file"
        )
    if len(given) != 1:
        r.fail(path, "set exactly one of password_env or password_file")
        return None
    if given[0] == "password_env":
        return r.env_secret(fields["password_env"], f"{path}.password_env")
    return r.file_secret(fields["password_file"], f"{path}.password_file")


def _callers(
    r: Reader, value: object, upstreams: Mapping[str, UpstreamSettings]
) -> dict[str, CallerSettings]:
    if not isinstance(value, dict) or not value:
        r.fail("callers", "expected at least one caller")
        return {}
    callers = {
        str(name): _caller(r, str(name), spec, f"callers.{name}", upstreams)
        for name, spec in value.items()
    }
    seen: dict[str, str] = {}
    for caller in callers.values():
        for key in caller.keys:
            if key.digest in seen and seen[key.digest] != caller.name:
                r.fail(f"callers.{caller.name}.keys", f"a key is also given to {seen[key.digest]}")
            seen[key.digest] = caller.name
    return callers


def _caller(
    r: Reader, name: str, value: object, path: str, upstreams: Mapping[str, UpstreamSettings]
) -> CallerSettings:
    if not _NAME.fullmatch(name):
        r.fail(path, "caller names are letters, digits, '_', '-', '.'")
    fields = r.mapping(
        value,
        path,
        {
            "keys",
            "upstream",
            "allow",
            "deny",
            "rate_limit",
            "method_limits",
            "scope",
            "params",
            "session_tokens",
            "tls_identities",
        },
    )
    upstream = fields.get("upstream")
    if upstream is None and len(upstreams) == 1:
        upstream = next(iter(upstreams))
    elif upstream not in upstreams:
        r.fail(f"{path}.upstream", f"expected one of the upstreams: {', '.join(upstreams)}")
    allow = r.strings(fields.get("allow"), f"{path}.allow")
    for i, pattern in enumerate(allow):
        if is_never_forwarded(pattern):
            r.fail(
                f"{path}.allow[{i}]",
                f"{pattern} is never forwarded (the gateway holds the "
                "OMA login; underscore methods are OMA-internal)",
            )
    limits = r.mapping(fields.get("method_limits"), f"{path}.method_limits", None)
    deny = r.strings(fields.get("deny"), f"{path}.deny")
    given_params = fields.get("params")
    params = given_params if isinstance(given_params, dict) else {}  # keys are method names
    r.problems += unknown_method_problems([
        *((f"{path}.allow[{i}]", m) for i, m in enumerate(allow)),
        *((f"{path}.deny[{i}]", m) for i, m in enumerate(deny)),
        *((f"{path}.method_limits.{m}", str(m)) for m in limits),
        *((f"{path}.params.{m}", str(m)) for m in params),
    ])  # fmt: skip
    return CallerSettings(
        name=name,
        keys=_keys(r, fields.get("keys"), f"{path}.keys"),
        upstream=str(upstream),
        allow=allow,
        deny=deny,
        rate_limit=_rate(r, fields.get("rate_limit"), f"{path}.rate_limit"),
        method_limits=_method_limits(r, limits, f"{path}.method_limits"),
        scope=read_scope(r, fields.get("scope"), f"{path}.scope"),
        params=read_params(r, fields.get("params"), f"{path}.params"),
        session_tokens=_session_tokens(
            r, fields.get("session_tokens", {}), f"{path}.session_tokens"
        ),
        tls_identities=r.strings(fields.get("tls_identities"), f"{path}.tls_identities"),
    )


def _session_tokens(r: Reader, value: object, path: str) -> SessionTokenSettings | None:
    if value is False:
        return None
    fields = r.mapping(value, path, {"max_lifetime"})
    lifetime = r.convert(
        fields.get("max_lifetime"), f"{path}.max_lifetime", parse_duration, _TOKENS.max_lifetime
    )
    if not 1 <= lifetime <= 86400:
        r.fail(f"{path}.max_lifetime", "from 1s to 24h (OMA's own session tokens last at most 24h)")
    return SessionTokenSettings(max_lifetime=lifetime)


def _method_limits(r: Reader, limits: dict[str, Any], path: str) -> dict[str, RateSpec]:
    specs: dict[str, RateSpec] = {}
    for method, spec in limits.items():
        try:
            check_method_name(str(method))
        except BadRequest:
            r.fail(f"{path}.{method}", "not an OMA method name")
            continue
        rate = _rate(r, spec, f"{path}.{method}")
        if rate is not None:
            specs[str(method)] = rate
    return specs


def _keys(r: Reader, value: object, path: str) -> tuple[CallerKey, ...]:
    if not isinstance(value, list) or not value:
        r.fail(path, "expected a list of sha256:<hex> key digests")
        return ()
    keys = []
    for i, item in enumerate(value):
        key = _key(r, item, f"{path}[{i}]")
        if key is not None:
            keys.append(key)
    return tuple(keys)


def _key(r: Reader, item: object, path: str) -> CallerKey | None:
    fields = (
        {"digest": item} if isinstance(item, str) else r.mapping(item, path, {"digest", "expires"})
    )
    digest = fields.get("digest")
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        r.fail(path, "expected sha256:<64 lowercase hex> (oma-gateway keys new prints one)")
        return None
    return CallerKey(digest, r.convert(fields.get("expires"), f"{path}.expires", _instant, None))


def _instant(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            return _instant(datetime.fromisoformat(value))
        except ValueError:
            pass
    raise ValueError(f"expected a date or ISO 8601 time, got {value!r}")


_DURABILITIES = ("interval", "flush", "fsync")
_AUDIT_FIELDS = {
    "file", "durability", "fsync_interval", "on_error", "signing_key_file", "checkpoint_interval",
}  # fmt: skip


def _audit(r: Reader, value: object) -> AuditSettings:
    fields = r.mapping(value, "audit", _AUDIT_FIELDS)
    file = r.string(fields.get("file"), "audit.file", "-")
    interval = r.convert(
        fields.get("checkpoint_interval"),
        "audit.checkpoint_interval",
        parse_duration,
        _AUDIT.checkpoint_interval,
    )
    if interval <= 0:
        r.fail("audit.checkpoint_interval", "expected a duration above 0")
    return AuditSettings(
        signing_key=_signing_key(r, fields.get("signing_key_file"), file),
        checkpoint_interval=interval,
        file=None if file == "-" else file,
        durability=cast(
            Any,
            r.choice(
                fields.get("durability"), "audit.durability", _DURABILITIES, _AUDIT.durability
            ),
        ),
        fsync_interval=r.convert(
            fields.get("fsync_interval"),
            "audit.fsync_interval",
            parse_duration,
            _AUDIT.fsync_interval,
        ),
        on_error=cast(
            Any, r.choice(fields.get("on_error"), "audit.on_error", _ON_ERROR, _AUDIT.on_error)
        ),
    )


def _signing_key(r: Reader, value: object, file: str) -> Secret | None:
    """The checkpoints' Ed25519 key (PEM, PKCS#8), checked here so a bad key fails the start."""
    if value is None:
        return None
    path = "audit.signing_key_file"
    if file == "-":
        r.fail(path, "checkpoints sign the audit file's chain: set audit.file too")
    pem = r.file_secret(value, path)  # UNREAD under --no-secrets: nothing read, nothing checked
    if pem is None or pem is UNREAD:
        return pem
    try:
        key = serialization.load_pem_private_key(pem.reveal().encode(), password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        r.fail(path, "expected an Ed25519 private key, PEM PKCS#8 (oma-gateway audit keygen)")
        return None
    return pem
