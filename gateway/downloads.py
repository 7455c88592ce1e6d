"""Download links callers can use: `stats_snapshot` and `migration_trace` through the gateway.

OMA answers those methods with a URL on its own host that carries a bearer token and the
gateway's login (upstream-facts §9.2): never something a caller may see. The gateway keeps that
URL server-side (in the store, encrypted with Redis, so any replica can serve it) under a random
link id, and answers a gateway URL instead. A GET on it with the same caller's credentials
streams the file from OMA, for as long as OMA's link lasts (15 minutes), bounded in size.
Another caller, or anyone without credentials, gets `not_found`. Only URLs on the upstream's
own origin are kept: a hostile upstream cannot point the gateway at another host.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from .errors import UpstreamTimeout, UpstreamUnavailable
from .store import CallerTokens, TokenGrant

__all__ = ["LINK_FIELDS", "Downloads", "stream_file"]

LINK_FIELDS = {"stats_snapshot": "snapshot", "migration_trace": "trace"}
LINK_LIFETIME = 900.0  # OMA's own download links last 15 minutes (upstream-facts §6)
MAX_FILE = 256 * 1024 * 1024
_PREFIX = "omagw_dl_"


class Downloads:
    def __init__(self, store: CallerTokens, clock: Callable[[], float] = time.time) -> None:
        self._store, self._clock = store, clock

    async def offer(
        self,
        method: str,
        caller: str,
        answers: tuple[dict[str, Any], dict[str, Any]],
        upstream_url: str,
        base: str,
    ) -> dict[str, Any] | None:
        """The visible answer with OMA's link replaced by a gateway link, or None when there is
        none. `answers` is OMA's own (where the link is whole) and the scrubbed one shown."""
        oma, visible = answers
        field = LINK_FIELDS.get(method)
        url = oma.get(field) if field else None
        if field is None or not isinstance(url, str) or not _same_origin(url, upstream_url):
            return None
        link = _PREFIX + secrets.token_urlsafe(24)
        grant = TokenGrant(caller, "", self._clock() + LINK_LIFETIME, url)
        await self._store.put(_digest(link), grant)
        return {**visible, field: f"{base}/download/{link}"}

    async def find(self, link: str, caller: str) -> TokenGrant | None:
        if not link.startswith(_PREFIX) or len(link) > 64:
            return None
        grant = await self._store.get(_digest(link))
        if grant is None or not grant.url or grant.caller != caller:
            return None
        return grant if grant.expires_at > self._clock() else None  # the store's TTL aside


async def stream_file(
    request: web.Request, session: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> tuple[web.StreamResponse, bool]:
    """OMA's file, streamed to the caller chunk by chunk (never held whole), at most MAX_FILE,
    and whether it went whole. A file that declares more is refused before anything is sent; one
    that grows past MAX_FILE undeclared is cut by aborting the connection, so the caller's
    client reports a broken transfer instead of taking a short file for the whole one."""
    try:
        async with session.get(url, allow_redirects=False) as upstream:
            if upstream.status != 200:
                raise UpstreamUnavailable("OMA did not serve the file")
            if (upstream.content_length or 0) > MAX_FILE:
                raise UpstreamUnavailable("OMA's file is larger than the gateway serves (256 MiB)")
            response = web.StreamResponse(headers={
                **headers,
                "Content-Type": upstream.headers.get("Content-Type", "application/octet-stream"),
            })  # fmt: skip
            await response.prepare(request)
            sent = 0
            async for chunk in upstream.content.iter_chunked(64 * 1024):
                sent += len(chunk)
                if sent > MAX_FILE:
                    _abort(request)
                    return response, False
                await response.write(chunk)
            await response.write_eof()
            return response, True
    except TimeoutError as exc:
        raise UpstreamTimeout() from exc
    except aiohttp.ClientError as exc:
        raise UpstreamUnavailable() from exc


def _abort(request: web.Request) -> None:
    """End the caller's connection without the chunked terminator: the transfer is incomplete."""
    if request.transport is not None:
        request.transport.abort()


def _same_origin(url: str, upstream_url: str) -> bool:
    a, b = urlsplit(url), urlsplit(upstream_url)
    return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower()) and a.scheme in (
        "http",
        "https",
    )


def _digest(link: str) -> str:
    return "dl:" + hashlib.sha256(link.encode()).hexdigest()
