"""Talking to one OMA account: one pooled `ClientSession`, bounded waits, errors translated.

OMA answers in band: HTTP 200 with `success: false` is a normal answer, passed on as it is. Only
a transport failure or an answer that is not OMA's JSON becomes a gateway error here, carrying
its cause (`failures`), which is logged and counted per upstream.

What an upstream may make the gateway do is bounded: a redirect is never followed (the body
carries the session token, and `Location` may name any host), and an answer is read only up to
`max_answer` bytes after decompression, in chunks, so a huge or compressed-bomb answer costs at
most that much memory and is refused.
"""

from __future__ import annotations

import collections
import ssl
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import structlog

from . import tracing
from .errors import UpstreamError
from .failures import cause_of, failure
from .oma_http import Pool
from .settings import UpstreamSettings

__all__ = ["OmaAnswer", "OmaClient", "open_session", "tls_context"]

log = structlog.get_logger(__name__)

REJECTED = "upstream_rejected"  # OMA refused (400/404) without JSON; the gateway says so
_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_CHUNK = 64 * 1024  # bytes read (decoded) at a time while bounding an answer


@dataclass(slots=True)
class OmaAnswer:
    status: int
    raw: bytes
    body: dict[str, Any]
    latency: float  # seconds spent waiting for OMA
    #: False when the gateway put the body together itself (OMA's 400/404 without JSON).
    from_oma: bool = True

    @property
    def gateway_error(self) -> str | None:
        """Set when the gateway made this answer up for OMA (a refusal OMA sent without JSON)."""
        return None if self.from_oma else REJECTED

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
        #: The lean client of the hot path; an upstream reached through a proxy keeps aiohttp's.
        self._pool = None if settings.proxy or settings.trust_env else _pool(settings)
        #: Failed calls by cause (`failures.CAUSES`), for metrics.
        self.failures: collections.Counter[str] = collections.Counter()

    async def call(
        self, method: str, payload: bytes, trace: tracing.TraceParent | None = None
    ) -> OmaAnswer:
        """One exchange with OMA; `trace`: the caller's trace context (tracing.upstream_headers)."""
        started = time.perf_counter()
        try:
            status, raw = await self._exchange(method, payload, trace)
            body, raw, from_oma = _oma_json(raw, status)
        except UpstreamError as exc:
            self.note_failure(method, exc)
            raise
        return OmaAnswer(status, raw, body, time.perf_counter() - started, from_oma)

    async def _exchange(
        self, method: str, payload: bytes, trace: tracing.TraceParent | None
    ) -> tuple[int, bytes]:
        try:
            # The session's own timeout (the upstream's `timeout`) bounds the whole exchange.
            async with tracing.span(
                "oma_gateway.upstream", upstream=self.settings.name, method=method
            ):
                headers = tracing.upstream_headers(trace)  # inside the span: it is the parent
                if self._pool is not None:
                    return await self._pool.post(method, payload, headers)
                return await self._post(method, payload, headers)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise failure(cause_of(exc)) from exc

    async def _post(
        self, method: str, payload: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        async with self._session.post(
            f"{self._base}/{method}",
            data=payload,
            headers={**_JSON_HEADERS, **headers} if headers else _JSON_HEADERS,
            allow_redirects=False,  # nothing is resent to wherever `Location` points
        ) as response:
            return response.status, await _read_bounded(response, self.settings.max_answer)

    def note_failure(self, method: str, exc: UpstreamError) -> None:
        """Log and count a failed exchange (also one the caller judged, like a login answer)."""
        self.failures[exc.cause] += 1
        log.warning("upstream_failed", upstream=self.settings.name, method=method,
                    cause=exc.cause, gateway_error=exc.code)  # fmt: skip

    @property
    def session(self) -> aiohttp.ClientSession:
        """The pooled session (download links fetch OMA's files through it)."""
        return self._session

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        await self._session.close()


async def _read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The decoded body, or `too_large` as soon as it passes `limit` (nothing more is read)."""
    if 300 <= response.status < 400:
        response.close()
        raise failure("redirect", "OMA upstream answered with a redirect, which is not followed")
    if response.content_length is not None and response.content_length > limit:
        response.close()
        raise failure("too_large", "OMA upstream's answer is larger than max_answer")
    data = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        data += chunk
        if len(data) > limit:
            response.close()  # drop the connection: the rest of the answer is never read
            raise failure("too_large", "OMA upstream's answer is larger than max_answer")
    return bytes(data)


def _oma_json(raw: bytes, status: int) -> tuple[dict[str, Any], bytes, bool]:
    """OMA's answer as a mapping (and its bytes, and whether OMA wrote it); anything else means
    the upstream is not speaking OMA."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        return body, raw, True
    if status in (400, 404):
        # OMA's own refusals (malformed body, unknown method) may come without a JSON body; the
        # gateway answers them in OMA's envelope so callers still get OMA's meaning.
        body = {
            "success": False,
            "error_number": 5,
            "error": _REFUSALS[status],
            "gateway_error": REJECTED,
        }
        return body, orjson.dumps(body), False
    cause = "not_json" if status == 200 else "http_status"
    raise failure(cause, "OMA upstream answered something that is not OMA's JSON")


_REFUSALS = {400: "OMA refused the request as malformed", 404: "OMA does not know this method"}


def _pool(settings: UpstreamSettings) -> Pool:
    tls = tls_context(settings)
    return Pool(
        settings.url,
        limit=settings.max_connections,
        timeout=settings.timeout,
        max_answer=settings.max_answer,
        tls=tls if isinstance(tls, ssl.SSLContext) else None,
    )


def tls_context(settings: UpstreamSettings) -> ssl.SSLContext | bool:
    """Verification against the system's trust store, plus the upstream's `ca_file` if set.
    Without one, aiohttp's own verifying default (`True`) is used: building a context loads the
    whole system store (tens of ms on the event loop), so it is done only when needed."""
    if settings.ca_file is None:
        return True
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=settings.ca_file)
    return context


def open_session(settings: UpstreamSettings) -> aiohttp.ClientSession:
    """The one pooled session for an upstream. Connections are kept alive; the pool is sized for
    many concurrent callers, since OMA calls are slow relative to the gateway's own work."""
    connector = aiohttp.TCPConnector(
        limit=settings.max_connections, ttl_dns_cache=300, ssl=tls_context(settings)
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=settings.timeout),
        skip_auto_headers=("User-Agent",),  # OMA sees who calls in `client`, not a library banner
        proxy=settings.proxy,  # CONNECT for https://: the TLS to OMA stays end to end
        trust_env=settings.trust_env and settings.proxy is None,  # HTTPS_PROXY, NO_PROXY
    )
