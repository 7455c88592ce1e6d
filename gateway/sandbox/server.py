"""Run the sandbox on a real socket, configured as in production (no handler cancellation).

aiohttp's test server cancels handlers when a client disconnects, production servers do not;
tests of the `hang` fault therefore use `serving` to see what a deployed sandbox does.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.sandbox.app import create_sandbox_app
from gateway.sandbox.sandbox import Sandbox

# Calls held by the `hang` fault are released at shutdown, so this only bounds stragglers.
SHUTDOWN_TIMEOUT = 5.0


@contextlib.asynccontextmanager
async def serving(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Listen until the block ends; yields the base URL (`http://HOST:PORT`, real port)."""
    runner = web.AppRunner(
        create_sandbox_app(sandbox), handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        yield f"http://{shown}:{bound_port}"
    finally:
        await runner.cleanup()
