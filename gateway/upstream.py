"""Talking to one OMA account: one pooled `ClientSession`, bounded waits, errors translated.

OMA answers in band: HTTP 200 with `success: false` is a normal answer, passed on as it is. Only
a transport failure or an answer that is not OMA's JSON becomes a gateway error here.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from . import tracing
from .errors import UpstreamTimeout, UpstreamUnavailable
from .settings import UpstreamSettings

__all__ = ["OmaAnswer", "OmaClient"]

_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


@dataclass(slots=True)
class OmaAnswer:
    status: int
    raw: bytes
    body: dict[str, Any]
    latency: float  # seconds spent waiting for OMA

    @property
    def success(self) -> bool:
        return self.body.get("success") is True

    @property
    def error_number(self) -> int | None:
        number = self.body.get("error_number")
        return number if isinstance(number, int) and not self.success else None


class OmaClient:
    def __init__(self, settings: UpstreamSettings, session: aiohttp.ClientSession) -> None:
        self.settings = settings
        self._session = session
        self._base = settings.url

    async def call(self, method: str, payload: bytes) -> OmaAnswer:
        started = time.perf_counter()
        try:
            # The session's own timeout (the upstream's `timeout`) bounds the whole exchange.
            async with (
                tracing.span("oma_gateway.upstream", upstream=self.settings.name, method=method),
                self._session.post(
                    f"{self._base}/{method}", data=payload, headers=_JSON_HEADERS
                ) as response,
            ):
                raw = await response.read()
                status = response.status
        except TimeoutError as exc:
            raise UpstreamTimeout() from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise UpstreamUnavailable() from exc
        body, raw = _oma_json(raw, status)
        return OmaAnswer(status, raw, body, time.perf_counter() - started)

    async def close(self) -> None:
        await self._session.close()


def _oma_json(raw: bytes, status: int) -> tuple[dict[str, Any], bytes]:
    """OMA's answer as a mapping (and its bytes); anything else means the upstream is not
    speaking OMA."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        return body, raw
    if status in (400, 404):
        # OMA's own refusals (malformed body, unknown method) may come without a JSON body; the
        # gateway answers them in OMA's envelope so callers still get OMA's meaning.
        body = {
            "success": False,
            "error_number": 5,
            "error": _REFUSALS[status],
            "gateway_error": "upstream_rejected",
        }
        return body, orjson.dumps(body)
    raise UpstreamUnavailable("OMA upstream answered something that is not OMA's JSON")


_REFUSALS = {400: "OMA refused the request as malformed", 404: "OMA does not know this method"}


def open_session(settings: UpstreamSettings) -> aiohttp.ClientSession:
    """The one pooled session for an upstream. Connections are kept alive; the pool is sized for
    many concurrent callers, since OMA calls are slow relative to the gateway's own work."""
    connector = aiohttp.TCPConnector(
        limit=settings.max_connections, ttl_dns_cache=300, ssl=_ssl_context(settings.ca_file)
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=settings.timeout),
        skip_auto_headers=("User-Agent",),  # OMA sees who calls in `client`, not a library banner
        proxy=settings.proxy,  # CONNECT for https://: the TLS to OMA stays end to end
        trust_env=settings.trust_env and settings.proxy is None,  # HTTPS_PROXY, NO_PROXY
    )


def _ssl_context(ca_file: str | None) -> ssl.SSLContext | bool:
    """The system store, plus `ca_file` when set (True: aiohttp's default verification)."""
    if ca_file is None:
        return True
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=ca_file)
    return context
