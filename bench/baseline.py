"""The floor cost of proxying in Python: a bare aiohttp pass-through proxy.

It reads the body, POSTs it to `{upstream}/{method}` through one pooled ClientSession and
returns the upstream's status and body. No auth, no JSON parsing, no logging: whatever the
gateway costs above this is the gateway's own work.

    python -m bench.baseline --listen 127.0.0.1:8001 --upstream http://127.0.0.1:8000/api
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from bench.procs import raise_nofile

UPSTREAM = web.AppKey("upstream", str)
MAX_CONNECTIONS = web.AppKey("max_connections", int)
SESSION = web.AppKey("session", aiohttp.ClientSession)


async def forward(request: web.Request) -> web.Response:
    body = await request.read()
    url = f"{request.app[UPSTREAM]}/{request.match_info['method']}"
    headers = {"Content-Type": "application/json"}
    async with request.app[SESSION].post(url, data=body, headers=headers) as resp:
        payload = await resp.read()
        return web.Response(status=resp.status, body=payload, content_type="application/json")


async def client_session(app: web.Application) -> AsyncIterator[None]:
    # The same cap on upstream connections as the gateway's default (upstreams.*.max_connections).
    connector = aiohttp.TCPConnector(limit=app[MAX_CONNECTIONS], keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        app[SESSION] = session
        yield


def make_app(upstream: str, max_connections: int) -> web.Application:
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")
    app[MAX_CONNECTIONS] = max_connections
    app.cleanup_ctx.append(client_session)
    app.router.add_post("/api/{method}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:8001")
    parser.add_argument("--upstream", required=True, help="base URL; methods go to {url}/{method}")
    parser.add_argument("--max-connections", type=int, default=1024, help="0: no cap")
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="event loop (uvloop where installed, as the gateway runs; asyncio: the plain one)",
    )
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    raise_nofile()
    if args.loop == "uvloop":
        with contextlib.suppress(ImportError):
            import uvloop

            uvloop.install()
    web.run_app(
        make_app(args.upstream, args.max_connections),
        host=host,
        port=int(port),
        access_log=None,
        backlog=16384,
        print=None,
    )


if __name__ == "__main__":
    main()
