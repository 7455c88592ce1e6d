"""`/_sandbox/*`: the test controls, reachable over HTTP for tests that run it as a process.

GET  /_sandbox/requests       recorded calls (each body without credentials), the authenticate
                              count and the files served
GET  /_sandbox/faults         the fault switches
POST /_sandbox/faults         change some switches: {"http_500": {"times": 1}, "hang": null}
POST /_sandbox/clock          {"advance": seconds}; only with a ManualClock
POST /_sandbox/revoke_tokens  forget every issued token
POST /_sandbox/reset          back to the seeded state (the configured login keeps its role)
GET  /_sandbox/role           {"user": the configured login, "role": its role}
POST /_sandbox/role           {"role": "company_token_only"}: that login's role from now on
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from gateway.sandbox.clock import ManualClock
from gateway.sandbox.keys import SANDBOX
from gateway.sandbox.roles import parse_kind


def add_control_routes(app: web.Application) -> None:
    app.router.add_get("/_sandbox/requests", requests)
    app.router.add_get("/_sandbox/faults", faults)
    app.router.add_post("/_sandbox/faults", set_faults)
    app.router.add_post("/_sandbox/clock", clock)
    app.router.add_post("/_sandbox/revoke_tokens", revoke_tokens)
    app.router.add_post("/_sandbox/reset", reset)
    app.router.add_get("/_sandbox/role", role)
    app.router.add_post("/_sandbox/role", set_role)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise web.HTTPBadRequest(text="Malformed JSON") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="The body must be a JSON object")
    return body


async def requests(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    recorded = [entry.to_json() for entry in sandbox.requests]
    counts = {
        "authenticate_count": sandbox.authenticate_count,
        "downloads_served": sandbox.downloads_served,
    }
    return _json({"requests": recorded, **counts})


async def faults(request: web.Request) -> web.Response:
    return _json(request.app[SANDBOX].faults.to_json())


async def set_faults(request: web.Request) -> web.Response:
    switches = request.app[SANDBOX].faults
    try:
        switches.update(await _body(request))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    return _json(switches.to_json())


async def clock(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    if not isinstance(sandbox.clock, ManualClock):
        raise web.HTTPConflict(text="The sandbox runs on the real clock")
    seconds = (await _body(request)).get("advance")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise web.HTTPBadRequest(text="advance: expected a non-negative number of seconds")
    sandbox.clock.advance(seconds)
    return _json({"now": sandbox.clock()})


async def revoke_tokens(request: web.Request) -> web.Response:
    request.app[SANDBOX].revoke_tokens()
    return _json({"success": True})


async def reset(request: web.Request) -> web.Response:
    request.app[SANDBOX].reset()
    return _json({"success": True})


async def role(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    return _json({"user": sandbox.user, "role": sandbox.role})


async def set_role(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    wanted = (await _body(request)).get("role")
    try:
        sandbox.set_role(parse_kind(wanted if isinstance(wanted, str) else ""))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    return _json({"user": sandbox.user, "role": sandbox.role})
