"""Turn the YAML config into `Settings`, reporting every problem with its field path.

One function per section, each speaking `config_reader.Reader`, so every problem is collected
with its path. Secrets are read here, from the environment or from files, never from the config
text.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import yaml

from . import config_ops
from .config_checks import config_warnings, unknown_method_problems
from .config_reader import UNREAD, ConfigError, Reader
from .errors import BadRequest
from .policy import check_method_name, is_never_forwarded
from .secrets import Secret
from .settings import (
    SANDBOX_URL,
    AuditSettings,
    CallerKey,
    CallerSettings,
    HostPort,
    RateSpec,
    Settings,
    StoreSettings,
    UpstreamSettings,
)
from .units import parse_duration, parse_rate, parse_size

__all__ = ["ConfigError", "load_settings", "parse_settings", "read_settings"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


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
        listen=r.convert(top.get("listen"), "listen", _host_port, HostPort("127.0.0.1", 8080)),
        admin_listen=r.convert(
            top.get("admin_listen"), "admin_listen", _host_port, HostPort("127.0.0.1", 9090)
        ),
        max_body=r.convert(top.get("max_body"), "max_body", parse_size, 1024 * 1024),
        store=_store(r, top.get("store")),
        upstreams=upstreams,
        callers=_callers(r, top.get("callers"), upstreams),
        audit=_audit(r, top.get("audit")),
        drain_timeout=r.convert(top.get("drain_timeout"), "drain_timeout", parse_duration, 20.0),
        drain_delay=r.convert(top.get("drain_delay"), "drain_delay", parse_duration, 0.0),
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
    "tracing",
    "trusted_proxies",
}


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
            "previous_encryption_key_envs",
            "timeout",
            "local_fallback",
            "ca_file",
        },
    )
    url = r.string(fields.get("url"), "store.url", "memory://")
    if not url.startswith(_STORE_SCHEMES):
        r.fail(
            "store.url",
            "expected memory://, redis://HOST:PORT/DB, rediss://, unix:// or"
            " redis+cluster://HOST:PORT (any node of a Redis Cluster)",
        )
    key: Secret | None = None
    if "encryption_key_env" in fields:
        key = _store_key(r, fields["encryption_key_env"], "store.encryption_key_env")
    elif not url.startswith("memory://"):
        r.fail("store.encryption_key_env", "required with a shared store")
    previous = fields.get("previous_encryption_key_envs") or []
    olds = [
        _store_key(r, name, f"store.previous_encryption_key_envs[{i}]")
        for i, name in enumerate(previous if isinstance(previous, list) else [previous])
    ]
    return StoreSettings(
        url=url,
        on_error=cast(Any, r.choice(fields.get("on_error"), "store.on_error", _ON_ERROR)),
        encryption_key=key,
        previous_encryption_keys=tuple(k for k in olds if k is not None),
        timeout=r.convert(fields.get("timeout"), "store.timeout", parse_duration, 0.1),
        local_fallback=_flag(r, fields.get("local_fallback", True), "store.local_fallback"),
        ca_file=config_ops.ca_file(r, fields.get("ca_file"), "store.ca_file"),
    )


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
    secret = r.env_secret(value, path)
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
    shadow = fields.get("shadow", False)
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
            "proxy",
            "trust_env",
            "ca_file",
        },
    )
    url = r.string(fields.get("url"), f"{path}.url").rstrip("/")
    if url and url != SANDBOX_URL and not url.startswith(("http://", "https://")):
        r.fail(
            f"{path}.url",
            f"expected an http(s) URL such as https://admin.a.hostedemail.com/api"
            f" or {SANDBOX_URL} for the bundled sandbox",
        )
    lifetime = r.convert(
        fields.get("token_lifetime"), f"{path}.token_lifetime", parse_duration, 10800.0
    )
    if not 60 <= lifetime <= 86400:
        r.fail(f"{path}.token_lifetime", "OMA session tokens last from 60s to 24h here")
    return UpstreamSettings(
        name=name,
        url=url,
        user=r.string(fields.get("user"), f"{path}.user"),
        password=_password(r, fields, path) or Secret(""),
        client=r.string(fields.get("client"), f"{path}.client", "oma-gateway"),
        token_lifetime=lifetime,
        timeout=r.convert(fields.get("timeout"), f"{path}.timeout", parse_duration, 20.0),
        rate_limit=_rate(r, fields.get("rate_limit"), f"{path}.rate_limit"),
        max_connections=_count(r, fields.get("max_connections", 1024), f"{path}.max_connections"),
        proxy=config_ops.proxy_url(r, fields.get("proxy"), f"{path}.proxy"),
        trust_env=_flag(r, fields.get("trust_env", False), f"{path}.trust_env"),
        ca_file=config_ops.ca_file(r, fields.get("ca_file"), f"{path}.ca_file"),
    )


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
    r.problems += unknown_method_problems([
        *((f"{path}.allow[{i}]", m) for i, m in enumerate(allow)),
        *((f"{path}.deny[{i}]", m) for i, m in enumerate(deny)),
        *((f"{path}.method_limits.{m}", str(m)) for m in limits),
    ])  # fmt: skip
    return CallerSettings(
        name=name,
        keys=_keys(r, fields.get("keys"), f"{path}.keys"),
        upstream=str(upstream),
        allow=allow,
        deny=deny,
        rate_limit=_rate(r, fields.get("rate_limit"), f"{path}.rate_limit"),
        method_limits=_method_limits(r, limits, f"{path}.method_limits"),
    )


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


def _audit(r: Reader, value: object) -> AuditSettings:
    fields = r.mapping(value, "audit", {"file", "durability", "fsync_interval", "on_error"})
    file = r.string(fields.get("file"), "audit.file", "-")
    return AuditSettings(
        file=None if file == "-" else file,
        durability=cast(
            Any,
            r.choice(fields.get("durability"), "audit.durability", ("interval", "flush", "fsync")),
        ),
        fsync_interval=r.convert(
            fields.get("fsync_interval"), "audit.fsync_interval", parse_duration, 1.0
        ),
        on_error=cast(Any, r.choice(fields.get("on_error"), "audit.on_error", _ON_ERROR)),
    )
