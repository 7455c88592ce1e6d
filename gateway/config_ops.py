"""The config sections that concern running the gateway inside a platform rather than OMA
itself: tracing export, the proxies in front (trusted_proxies) and behind (an upstream's egress
proxy). Each speaks `config_reader.Reader`, like the rest of `validation`.
"""

from __future__ import annotations

import importlib.util
import ipaddress
from urllib.parse import urlsplit

from .config_reader import Reader
from .settings import IPNetwork, TracingSettings

__all__ = ["proxy_url", "tracing", "trusted_proxies"]


def tracing(r: Reader, value: object) -> TracingSettings:
    fields = r.mapping(value, "tracing", {"otlp_endpoint", "service_name"})
    endpoint = fields.get("otlp_endpoint")
    if endpoint is not None and not _http_url(endpoint):
        r.fail("tracing.otlp_endpoint", "expected an http(s) URL such as http://collector:4318")
        endpoint = None
    elif endpoint is not None and importlib.util.find_spec("opentelemetry.sdk") is None:
        r.fail(
            "tracing.otlp_endpoint",
            "needs the otel extra: pip install 'oma-gateway[otel]' "
            "(the image: docker build --build-arg TRACING=true)",
        )
    return TracingSettings(
        otlp_endpoint=None if endpoint is None else str(endpoint).rstrip("/"),
        service_name=r.string(
            fields.get("service_name"), "tracing.service_name", TracingSettings().service_name
        ),
    )


def trusted_proxies(r: Reader, value: object) -> tuple[IPNetwork, ...]:
    networks = []
    for i, text in enumerate(r.strings(value, "trusted_proxies")):
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            r.fail(
                f"trusted_proxies[{i}]",
                f"expected an address or CIDR such as 10.0.0.0/8, got {text!r}",
            )
    return tuple(networks)


def proxy_url(r: Reader, value: object, path: str) -> str | None:
    """An HTTP proxy that OMA is reached through with CONNECT (the TLS stays end to end)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("http://") or not _http_url(value):
        r.fail(path, "expected the proxy's URL, http://HOST:PORT")
        return None
    if urlsplit(value).password is not None:
        r.fail(path, "secrets never go in the config: a proxy URL carries no password")
        return None
    return value


def _http_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises for a port that is not a number)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
