"""The sandbox's aiohttp application: `POST /api/{method}` with OMA's envelope and the faults,
and `GET /api/oma_file/get` for the download links of stats_snapshot and migration_trace.

A call goes: catalogue lookup (404), JSON parse (400), record, faults, credentials, the role's
method gate (error 4, roles.py), required fields, handler. Bodies of the 400/404/500 answers
are plain text on purpose: whether real OMA sends JSON there is unknown (upstream-facts §12.5),
so a client must not rely on it.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import orjson
from aiohttp import web

from gateway.sandbox.access import require_method
from gateway.sandbox.catalogue import MethodSpec, load_catalogue
from gateway.sandbox.control import add_control_routes
from gateway.sandbox.errors import BAD_CREDENTIALS, MALFORMED, OmaError
from gateway.sandbox.files import DOWNLOAD_PATH
from gateway.sandbox.handlers import Call, Reply, handler_for
from gateway.sandbox.keys import SANDBOX, STOPPING
from gateway.sandbox.sandbox import Sandbox

HANG_POLL_SECONDS = 0.05
NON_JSON_BODY = "<html><body><h1>502 Bad Gateway</h1></body></html>"


#: What the sandbox reads of one body. Real OMA's limit is not documented (upstream-facts.md); this
#: is above anything the gateway forwards (its `max_body` plus injected credentials), so a body
#: the gateway accepted is always answered by OMA's logic, never by aiohttp's 413.
MAX_BODY = 8 * 1024 * 1024


def create_sandbox_app(sandbox: Sandbox) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app[SANDBOX] = sandbox
    app[STOPPING] = asyncio.Event()
    app.on_shutdown.append(_release_hung_calls)
    app.router.add_post("/api/{method}", api)
    app.router.add_get(DOWNLOAD_PATH, download)
    add_control_routes(app)
    return app


async def api(request: web.Request) -> web.StreamResponse:
    sandbox = request.app[SANDBOX]
    spec = load_catalogue().get(request.match_info["method"])
    if spec is None:
        return web.Response(status=404, text="Unknown method")
    raw = await request.read()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return web.Response(status=400, text="Malformed JSON")
    if not isinstance(body, dict):
        return web.Response(status=400, text="The request body must be a JSON object")
    trace = (request.headers.get("traceparent"), request.headers.get("tracestate"))
    sandbox.record(spec.name, body, size=len(raw), trace=trace)
    broken = await _apply_faults(request, sandbox, spec.name)
    if broken is not None:
        return broken
    reply = answer(sandbox, spec, body, base=f"{request.scheme}://{request.host}")
    return web.Response(body=orjson.dumps(reply), content_type="application/json")


async def download(request: web.Request) -> web.Response:
    """A stats_snapshot or migration_trace link (files.py): the file, or 403 with error 1."""
    sandbox = request.app[SANDBOX]
    user, token = request.query.get("user", "").lower(), request.query.get("token", "")
    found = sandbox.downloads.fetch(user, token) if user and token else None
    if found is None:
        reply = OmaError(BAD_CREDENTIALS).reply()
        return web.Response(status=403, body=orjson.dumps(reply), content_type="application/json")
    sandbox.downloads_served += 1
    disposition = f'attachment; filename="{found.filename}"'
    headers = {"Content-Disposition": disposition}
    return web.Response(body=found.content, content_type=found.content_type, headers=headers)


def answer(sandbox: Sandbox, spec: MethodSpec, body: dict[str, Any], base: str = "") -> Reply:
    """`base` is the origin the call came in on: download links point back at it."""
    try:
        # Credentials first: OMA refuses a call before looking at what it asks for. Then the
        # role's method gate, so a requester learns nothing of a method it may not call.
        caller = sandbox.login(spec.name, body)
        require_method(sandbox.directory, caller.user, spec)
        missing = [key for key in spec.required if body.get(key) is None]
        if missing:
            raise OmaError(MALFORMED, f"missing {', '.join(missing)}")
        call = Call(sandbox, spec.name, body, caller.user, caller.token, base)
        reply = handler_for(spec.name)(call)
    except OmaError as error:
        return error.reply()
    return {"success": True, **reply}


async def _apply_faults(
    request: web.Request, sandbox: Sandbox, method: str
) -> web.StreamResponse | None:
    latency = sandbox.faults.fires("latency", method)
    if latency is not None:
        await asyncio.sleep(latency.seconds)
    fault = sandbox.faults.breaking(method)
    if fault == "reset":
        _abort(request)
    elif fault == "hang":
        await _hang(request)
    elif fault == "http_500":
        return web.Response(status=500, text="Internal Server Error")
    elif fault == "non_json":
        return web.Response(text=NON_JSON_BODY, content_type="text/html")
    # After an abort aiohttp drops whatever is returned: the peer is gone.
    return web.Response(status=500) if fault else None


async def _hang(request: web.Request) -> None:
    """Answer nothing until the client gives up or the server stops, then drop the line.

    aiohttp does not cancel handlers when a client disconnects, so the loop watches the
    transport itself; that way no handler outlives its connection.
    """
    stopping = request.app[STOPPING]
    while not stopping.is_set():
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(HANG_POLL_SECONDS)
    _abort(request)


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger 0 turns the close into a TCP reset, what a crashed upstream looks like.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _release_hung_calls(app: web.Application) -> None:
    app[STOPPING].set()
