"""The callers' application: `POST /api/{method}` and the path every call takes.

`create_app` builds and connects the request path's parts (keys, limiter, custody, audit,
metrics); `wiring.assemble` is the one place that puts a serving process together around it
(key expiry, TLS, the connection guard, reloads, the admin app). `call_method` is the request
path, one step per line, each naming the module that owns it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import structlog
from aiohttp import web

from . import tracing
from .audit import AuditTrail
from .auth import Presented
from .auth.presented import from_body, from_headers, without_session_token
from .auth.tls import peer_names
from .auth.tokens import can_hold_tokens, naming_minted, wants_token
from .authfailures import AUTH_FAILURES, AuthFailures
from .bodybudget import BodyBudget, Share
from .call import Call, current_call, request_id_from
from .client_address import client_address, forwarded_scheme
from .connections import CONNECTIONS
from .downloads import LINK_FIELDS, stream_file
from .errors import (
    BadRequest,
    GatewayError,
    MethodNotAllowed,
    NoSuchEndpoint,
    PayloadTooLarge,
    Unauthenticated,
    WrongHttpMethod,
)
from .limits import ratelimit_headers
from .metrics import Metrics
from .policy import method_from_path
from .policy.caller import CallerPolicy
from .runtime import Gateway
from .scrub import scrub
from .settings import Settings
from .store import Store

__all__ = ["AUDIT", "CALL", "GATEWAY", "METRICS", "call_method", "create_app"]

log = structlog.get_logger(__name__)

GATEWAY = web.AppKey("gateway", Gateway)
METRICS = web.AppKey("metrics", Metrics)
AUDIT = web.AppKey("audit", AuditTrail)
CALL = web.RequestKey("call", Call)
#: Deeper caller bodies are refused: OMA's are a few levels deep, and the re-encode (orjson stops
#: at 255), the audit record and log redaction must all be able to hold what was accepted.
MAX_DEPTH = 64

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def call_method(request: web.Request) -> web.Response:
    call, gateway = request[CALL], request.app[GATEWAY]
    runtime = gateway.runtime  # one config for the whole call, even if a reload lands meanwhile
    call.method = await _method_of(request, call, runtime.settings, gateway.bodies)  # policy
    presented = _noted(call, from_headers(request.headers, peer_names(request)))  # auth
    known = runtime.auth.early(presented)  # auth: a bad header key is refused before the body
    body = await _body(request, runtime.settings, gateway.bodies, known)  # bodybudget
    presented = _noted(call, from_body(presented, body))  # auth: OMA-style body credentials
    call.body = body = within_depth(body)  # after the noting: refusal_status sees the credentials
    call.identity = await runtime.auth.identify(presented)  # auth: who is calling
    policy = runtime.policies[call.identity.caller.name]  # policy: the caller's, asked once
    if call.method == "authenticate":  # OMA token mode: answered here, never forwarded
        return await _authenticate(request, call, policy, body)
    body = without_session_token(body, presented)  # auth: the caller's token never travels
    call.targets = policy.targets(call.method, body)  # policy.targets: what the call touches
    body = policy.authorize(call.method, body, call.targets)  # policy: method, scope, parameters
    request.app[AUDIT].check()  # audit: with fail_closed, no call is served unaudited
    async with tracing.span("oma_gateway.limits", caller=policy.name):  # limits
        call.limits = await policy.limits.admit(gateway.store.limiter, call.method)
    answer, used = await policy.forwarder.forward(call, body)  # forward, custody
    visible = scrub(answer.raw, answer.body, used)  # scrub: no secret of the gateway's leaves
    call.answer = answer.body
    visible = await _download_link(request, call, policy, visible)  # downloads
    return web.Response(status=answer.status, body=visible, content_type="application/json")


async def _download_link(
    request: web.Request, call: Call, policy: CallerPolicy, visible: bytes
) -> bytes:
    """OMA's tokenised download URL swapped for a gateway link only this caller can use."""
    if call.method not in LINK_FIELDS or call.answer is None or call.caller is None:
        return visible
    upstream = policy.forwarder.custody.client.settings.url
    trusted = request.app[GATEWAY].runtime.settings.trusted_proxies
    proto = request.headers.get("X-Forwarded-Proto")
    base = f"{forwarded_scheme(request.remote, proto, trusted, request.scheme)}://{request.host}"
    answers = (call.answer, orjson.loads(visible))
    offered = await request.app[GATEWAY].downloads.offer(
        call.method, call.caller, answers, upstream, base
    )
    return visible if offered is None else orjson.dumps(offered)


async def download(request: web.Request) -> web.StreamResponse:
    """GET /download/{link}: the file behind a link this caller was given, streamed from OMA."""
    call, gateway = request[CALL], request.app[GATEWAY]
    runtime = gateway.runtime
    call.method = "download"
    presented = _noted(call, from_headers(request.headers, peer_names(request)))
    call.identity = await runtime.auth.identify(presented)  # auth: same credentials as calls
    grant = await gateway.downloads.find(request.match_info["link"], call.identity.caller.name)
    if grant is None:
        raise NoSuchEndpoint("no such download for this caller (links last 15 minutes)")
    policy = runtime.policies[call.identity.caller.name]
    call.limits = await policy.limits.admit(gateway.store.limiter, "download")
    headers = {"X-Request-ID": call.request_id, **_limit_headers(call)}
    session = policy.forwarder.custody.client.session
    response, call.download_whole = await stream_file(request, session, grant.url, headers)
    return response


def _limit_headers(call: Call) -> dict[str, str]:
    return {} if call.limits is None else ratelimit_headers(call.limits)


async def _authenticate(
    request: web.Request, call: Call, policy: CallerPolicy, body: dict[str, Any]
) -> web.Response:
    """`authenticate` for a caller: checks the caller's credentials (already done) and, when
    asked, mints a caller session token. Counted against the caller's limits, audited."""
    assert call.identity is not None
    if wants_token(body) and not can_hold_tokens(call.identity):
        raise MethodNotAllowed("session tokens are not enabled for this caller")
    request.app[AUDIT].check()
    call.limits = await policy.limits.admit(request.app[GATEWAY].store.limiter, "authenticate")
    call.answer = answer = await request.app[GATEWAY].runtime.auth.sessions.answer(
        call.identity, body
    )
    call.identity = naming_minted(call.identity, answer)  # audit: the new token's id
    return web.json_response(answer, dumps=_dumps)


async def _body(
    request: web.Request, settings: Settings, bodies: BodyBudget, known: bool
) -> dict[str, Any]:
    """The body; a caller not yet known shares `max_unidentified_bodies` with all the others
    while it arrives (`bodybudget`), so stalled bodies cannot fill the process's memory."""
    share = None if known else bodies.share(settings.max_unidentified_bodies)
    return await read_object(request, settings.max_body, share)


_PEEK_LIMIT = 64 * 1024  # OMA clients' bodies are small; a hostile one is refused unread


async def _method_of(
    request: web.Request, call: Call, settings: Settings, bodies: BodyBudget
) -> str:
    """The method the path names (`method_from_path`: the forms OMA libraries build). A path that
    names none is refused the caller's way: under `refusal_status: auto` a client that sends OMA
    body credentials (Net::OpenSRS::OMA reads a body only from a 2xx) gets OMA's HTTP 200, so a
    small body is looked at before the refusal goes out. A large one is not: an unauthenticated
    call must not make the gateway buffer a megabyte to refuse it."""
    try:
        return method_from_path(request.path)
    except GatewayError:
        length = request.content_length
        if length is not None and length <= _PEEK_LIMIT:
            share = bodies.share(settings.max_unidentified_bodies)  # the caller is unknown
            with contextlib.suppress(GatewayError):
                body = await read_object(request, min(settings.max_body, _PEEK_LIMIT), share)
                _noted(call, from_body(from_headers(request.headers), body))
        raise


def _noted(call: Call, presented: Presented) -> Presented:
    """Keep on the call what logs and audit need from the presented credentials."""
    secrets = presented.secrets()
    call.presented_key = secrets[0] if secrets else None  # redacted from logs, valid or not
    call.client, call.claimed, call.oma_style = (
        presented.client,
        presented.claimed,
        presented.oma_style,
    )
    return presented


async def read_object(
    request: web.Request, max_body: int, share: Share | None = None
) -> dict[str, Any]:
    """The body as a JSON object, read in chunks so an oversized body is refused, not buffered;
    with a `share`, its bytes count against the unidentified callers' budget while they arrive.
    Not yet checked for depth (`within_depth`): a caller's OMA-style credentials are noted first,
    so the refusal of a too-deep body reaches an OMA client the way `refusal_status` says."""
    if request.content_length is not None and request.content_length > max_body:
        raise PayloadTooLarge()
    data = await _read_bounded(request, max_body, share)
    connections = request.app.get(CONNECTIONS)
    if connections is not None:
        connections.body_read(request)  # the body is in: client_timeout no longer runs
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def within_depth(body: dict[str, Any]) -> dict[str, Any]:
    """The body, refused when nested deeper than `MAX_DEPTH` (before anything else reads it)."""
    if _deeper_than(body, MAX_DEPTH):
        raise BadRequest(f"request body nested deeper than {MAX_DEPTH} levels")
    return body


async def _read_bounded(request: web.Request, max_body: int, share: Share | None) -> bytearray:
    data = bytearray()
    try:
        async for chunk in request.content.iter_any():
            if share is not None:
                share.take(len(chunk))  # refused here, before the chunk is kept
            data += chunk
            if len(data) > max_body:
                raise PayloadTooLarge()
    except (ConnectionError, web.RequestPayloadError) as exc:  # cut by client_timeout, or gone
        raise BadRequest("request body not received whole") from exc
    finally:
        if share is not None:
            share.release()  # the read is over, however it ended: the bytes are the call's now
    return data


def _deeper_than(body: object, limit: int) -> bool:
    """Iterative, so a hostile depth costs a loop, never the interpreter's recursion limit."""
    stack: list[tuple[object, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        items = value.values() if isinstance(value, dict) else value
        for item in items:  # type: ignore[attr-defined]
            if isinstance(item, dict | list):
                if depth >= limit:
                    return True
                stack.append((item, depth + 1))
    return False


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
    call.trace_id, call.trace_parent = trace.trace_id, trace.parent
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
        _end(trace, 499, call)
        raise
    finally:
        in_flight.dec()
        current_call.reset(scope)
        _request_finished(request)
    if not response.prepared:  # a streamed download sent its headers already
        response.headers["X-Request-ID"] = call.request_id
        if call.limits is not None:
            response.headers.update(ratelimit_headers(call.limits))
    call.finish(response.status)
    request.app[GATEWAY].observe(call)
    _end(trace, response.status, call)
    return response


def _request_finished(request: web.Request) -> None:
    connections = request.app.get(CONNECTIONS)
    if connections is not None:
        connections.request_finished(request)  # idle from here: the next byte starts its clock


def _end(trace: tracing.CallSpan, status: int, call: Call) -> None:
    if trace.recording:  # not exporting: no attributes to build
        trace.end(status, _span_attributes(call))


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
    except Unauthenticated as exc:  # throttled per address, after the key was checked
        error = request.app[AUTH_FAILURES].failed(call.remote, exc)
    except GatewayError as exc:
        error = exc
    except web.HTTPException as exc:  # routing: unknown path, wrong HTTP method
        error = NoSuchEndpoint() if exc.status == 404 else WrongHttpMethod()
    except Exception:
        log.exception("unhandled_error")
        error = GatewayError()
    try:
        call.gateway_error, call.refusal = error.code, error.detail
        status = 200 if _answers_like_oma(request, call) else error.status
        envelope = error.envelope()
        response = web.json_response(envelope, status=status, headers=error.headers, dumps=_dumps)
        if error.closes_connection:
            response.force_close()
        return response
    finally:
        # The error's traceback holds this frame, and the frame held the error: a cycle that
        # kept every refused call's frames (its body, its runtime) until a full collection.
        del error


def _answers_like_oma(request: web.Request, call: Call) -> bool:
    """`refusal_status`: OMA answers its own errors with HTTP 200, and some OMA client libraries
    read a body only from a 2xx; `auto` gives them that when they speak OMA's credentials."""
    gateway = request.app.get(GATEWAY)
    mode = "auto" if gateway is None else gateway.runtime.settings.refusal_status
    return mode == "oma" or (mode == "auto" and call.oma_style)


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def create_app(
    settings: Settings, *, metrics: Metrics | None = None, store: Store | None = None
) -> web.Application:
    """`metrics` and `store` stand in for the ones the settings would open (a test's registry,
    a store that misbehaves on purpose)."""
    metrics = metrics or Metrics()
    app = web.Application(middlewares=[call_scope], handler_args={})
    app[METRICS] = metrics
    app[AUDIT] = AuditTrail(settings.audit)
    app[AUTH_FAILURES] = AuthFailures()
    app.router.add_get("/download/{link}", download)
    # Every POST path reaches call_method, which accepts only the forms OMA libraries build.
    app.router.add_post("/{path:.*}", call_method)

    async def gateway_ctx(app: web.Application) -> AsyncIterator[None]:
        gateway = Gateway.open(settings) if store is None else Gateway(settings, store)
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
