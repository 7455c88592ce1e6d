"""The admin port: `/healthz`, `/readyz` and `/metrics`, never on the callers' port.

`/healthz` answers while the process serves HTTP at all (liveness: restart me if this fails).
`/readyz` answers 200 only when a call sent now could be served (readiness: send me traffic):
not draining; the shared store answers a ping (Redis with `on_error: fail_closed` only: with
fail_open the replica serves through an outage, so it stays ready);
per upstream a usable OMA session token held by this process or by the fleet (the store's shared
token, which this process adopts on its next call without logging in), or, when no replica has
one and this process's login has been answered with a failure, "degraded" (a fleet-wide state:
staying ready keeps OMA's refusal visible to callers as the 502 envelope); and, where the audit
trail fails closed, an audit file that can be written. Each check is named in the body, every
failing one has a reason beside it, and every degraded one says what callers get.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .app import AUDIT, GATEWAY, METRICS
from .audit import AuditTrail
from .custody import SessionCustody
from .runtime import Gateway

__all__ = ["create_admin_app"]

MAIN_APP = web.AppKey("main_app", web.Application)
REASONS = {
    "started": "the gateway has not started yet",
    "serving": "draining: shutting down, new calls belong to other replicas",
    "store": "the store does not answer and store.on_error is fail_closed",
    "audit": "the audit file cannot be written and audit.on_error is fail_closed",
    "upstream": "warming up: no OMA session token in this process or in the store yet, and "
    "this process's first login has not finished",
}
#: Ready, but calls of this upstream fail the same way on every replica.
LOGIN_FAILING = (
    "no usable OMA session token anywhere in the fleet and this process's logins fail: calls "
    "get upstream_auth_failed / upstream_unavailable (see the oma_login_* log lines)"
)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    main = request.app[MAIN_APP]
    checks: dict[str, bool] = {"started": False}
    degraded: dict[str, str] = {}
    if GATEWAY in main:
        checks, degraded = await _readiness(main[GATEWAY])
        checks |= _audit_readiness(main[AUDIT])
    ready = all(checks.values())
    reasons = {name: REASONS[name.split(":")[0]] for name, ok in checks.items() if not ok}
    body = {"ready": ready, "checks": checks, "reasons": reasons, "degraded": degraded}
    return web.json_response(body, status=200 if ready else 503)


async def _readiness(gateway: Gateway) -> tuple[dict[str, bool], dict[str, str]]:
    checks, degraded = {"serving": not gateway.draining}, {}
    store = gateway.runtime.settings.store
    # Only where the store's loss refuses calls (fail_closed): with fail_open every replica keeps
    # serving through a Redis outage, and pulling them all out of the balancer would turn a
    # degraded fleet into a dead one. The outage is paged by OmaGatewayLimiterDegraded instead.
    if store.is_shared and store.on_error == "fail_closed":
        checks["store"] = await _store_answers(gateway, bound=store.timeout * 5)
    for name, custody in gateway.custodies.items():
        state = await _upstream_state(gateway, custody, store.timeout * 5)
        checks[f"upstream:{name}"] = state != "warming_up"
        if state == "degraded":
            degraded[f"upstream:{name}"] = LOGIN_FAILING
    return checks, degraded


async def _upstream_state(gateway: Gateway, custody: SessionCustody, bound: float) -> str:
    """Ready with a usable token here or in the store (another replica's login serves this one
    too). Without one anywhere, once this process's own login has been answered (rejected,
    failed, or not tried because the fleet backs off from a rejection), every replica is in
    the same state: pulling them all out of the balancer would
    turn OMA's refusal into connection errors, so the replica stays ready and says it is
    degraded. Not ready only while warming up (no token anywhere, no login answered yet)."""
    if custody.has_usable_token() or await _fleet_token(gateway, custody.name, bound=bound):
        return "ready"
    return "degraded" if custody.login_answered() else "warming_up"


async def _fleet_token(gateway: Gateway, upstream: str, *, bound: float) -> bool:
    """Whether the fleet holds a usable token for `upstream`: another replica's login serves
    this one too, so one process's failed login does not take it out of the balancer."""
    try:
        async with asyncio.timeout(bound):
            token = await gateway.store.sessions.load(upstream)
    except Exception:  # an unreadable store means "not known to be usable", never a 500
        return False
    return token is not None and token.usable(time.time())


async def _store_answers(gateway: Gateway, *, bound: float) -> bool:
    try:
        async with asyncio.timeout(bound):
            return await gateway.store.ping()
    except Exception:  # any failure to answer means "not ready", never a 500 from here
        return False


def _audit_readiness(audit: AuditTrail) -> dict[str, bool]:
    # Only where it refuses calls: a fail_open audit problem is paged by its alert, not by
    # taking the replica out of the balancer.
    return {"audit": audit.healthy} if audit.settings.on_error == "fail_closed" else {}


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[MAIN_APP][METRICS].registry
    body = await asyncio.to_thread(generate_latest, registry)
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response


def create_admin_app(main: web.Application) -> web.Application:
    app = web.Application()
    app[MAIN_APP] = main
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
