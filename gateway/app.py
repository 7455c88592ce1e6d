"""The callers' application: `POST /api/{method}` and the path every call takes.

`create_app` is the one place that builds and connects things; `call_method` is the request path,
one step per line, each naming the module that owns it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import structlog
from aiohttp import web

from . import tracing
from .audit import AuditTrail
from .call import Call, current_call, request_id_from
from .client_address import client_address
from .errors import BadRequest, GatewayError, NoSuchEndpoint, PayloadTooLarge, WrongHttpMethod
from .keys import presented_key
from .limits import ratelimit_headers
from .metrics import Metrics
from .policy import check_method_name
from .runtime import Gateway
from .settings import Settings

__all__ = ["AUDIT", "CALL", "GATEWAY", "METRICS", "call_method", "create_app"]

log = structlog.get_logger(__name__)

GATEWAY = web.AppKey("gateway", Gateway)
METRICS = web.AppKey("metrics", Metrics)
AUDIT = web.AppKey("audit", AuditTrail)
CALL = web.RequestKey("call", Call)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def call_method(request: web.Request) -> web.Response:
    call, gateway = request[CALL], request.app[GATEWAY]
    runtime = gateway.runtime  # one config for the whole call, even if a reload lands meanwhile
    call.method = check_method_name(request.match_info["method"])  # policy
    call.body = body = await read_object(request, runtime.settings.max_body)
    presented = presented_key(request.headers, body)
    call.presented_key = presented.key  # so logs can redact it, valid or not
    call.identity = runtime.keyring.identify(presented)  # keys
    caller = call.identity.caller.name
    runtime.allowlists[caller].authorize(call.method)  # policy
    request.app[AUDIT].check()  # audit: with fail_closed, no call is served unaudited
    call.limits = await runtime.limits[caller].admit(gateway.store.limiter, call.method)  # limits
    answer, visible = await runtime.forwarders[caller].forward(call, body)  # forward, custody
    call.answer = answer.body
    return web.Response(status=answer.status, body=visible, content_type="application/json")


async def read_object(request: web.Request, max_body: int) -> dict[str, Any]:
    """The body as a JSON object, read in chunks so an oversized body is refused, not buffered."""
    if request.content_length is not None and request.content_length > max_body:
        raise PayloadTooLarge()
    data = bytearray()
    async for chunk in request.content.iter_any():
        data += chunk
        if len(data) > max_body:
            raise PayloadTooLarge()
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


@web.middleware
async def call_scope(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one middleware: every call gets an id and a record, every refusal OMA's envelope plus
    a stable `gateway_error`, and every answer is observed once (audit, metrics). One layer, not
    three: each middleware layer costs every call."""
    trace = tracing.start_call(request.headers)  # the call's span, when exporting
    remote = client_address(
        request.remote,
        request.headers.getall("X-Forwarded-For", ()),
        request.app[GATEWAY].runtime.settings.trusted_proxies,
    )
    call = Call(request_id_from(request.headers.get("X-Request-ID")), remote)
    call.trace_id = trace.trace_id
    request[CALL] = call
    scope = current_call.set(call)  # reset below: keep-alive requests share one task
    in_flight = request.app[METRICS].in_flight
    in_flight.inc()
    try:
        response = await _answer(request, handler, call)
    except asyncio.CancelledError:  # shutdown cut the call short: it is audited all the same
        call.gateway_error = call.gateway_error or "cancelled"
        call.finish(499)
        request.app[GATEWAY].observe(call)
        trace.end(499, _span_attributes(call))
        raise
    finally:
        in_flight.dec()
        current_call.reset(scope)
    response.headers["X-Request-ID"] = call.request_id
    if call.limits is not None:
        response.headers.update(ratelimit_headers(call.limits))
    call.finish(response.status)
    request.app[GATEWAY].observe(call)
    trace.end(response.status, _span_attributes(call))
    return response


def _span_attributes(call: Call) -> dict[str, str | None]:
    return {
        "oma_gateway.caller": call.caller,
        "oma_gateway.method": call.method,
        "oma_gateway.gateway_error": call.gateway_error,
        "oma_gateway.request_id": call.request_id,
    }


async def _answer(request: web.Request, handler: Handler, call: Call) -> web.StreamResponse:
    try:
        return await handler(request)
    except GatewayError as exc:
        error = exc
    except web.HTTPException as exc:  # routing: unknown path, wrong HTTP method
        error = NoSuchEndpoint() if exc.status == 404 else WrongHttpMethod()
    except Exception:
        log.exception("unhandled_error")
        error = GatewayError()
    call.gateway_error = error.code
    return web.json_response(
        error.envelope(), status=error.status, headers=error.headers, dumps=_dumps
    )


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def create_app(settings: Settings, *, metrics: Metrics | None = None) -> web.Application:
    metrics = metrics or Metrics()
    app = web.Application(middlewares=[call_scope], handler_args={})
    app[METRICS] = metrics
    app[AUDIT] = AuditTrail(settings.audit)
    app.router.add_post("/api/{method}", call_method)

    async def gateway_ctx(app: web.Application) -> AsyncIterator[None]:
        gateway = Gateway.open(settings)
        app[METRICS].bind(gateway, app[AUDIT])
        app[AUDIT].attach(gateway)  # an observer too; starts the audit file's writer
        app[GATEWAY] = gateway
        gateway.start()
        yield
        await gateway.close()
        await app[AUDIT].close()  # after the last call: its record is flushed too

    app.cleanup_ctx.append(tracing.exporting(settings.tracing))  # closes last: flushes all spans
    app.cleanup_ctx.append(gateway_ctx)
    return app
