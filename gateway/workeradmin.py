"""The admin port of a multi-worker gateway: one `/healthz`, `/readyz` and `/metrics` per pod.

Kubernetes probes and Prometheus scrapes one address per pod and expect it to speak for the whole
pod, not for whichever process the kernel picked. So only the supervisor binds `admin_listen`;
each worker serves its own admin app on a unix socket in the supervisor's run directory, and the
supervisor asks all of them. `/readyz` is ready when the supervisor is not draining and every
worker says ready, with each worker's own checks in the body; `/healthz` fails while a worker has
stopped answering the supervisor's heartbeat; `/metrics` is every worker's exposition with a
`worker` label added (sum it away in queries), plus the supervisor's own worker gauges.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from typing import Protocol

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

__all__ = ["WorkerView", "create_supervisor_admin_app"]

ASK_TIMEOUT = aiohttp.ClientTimeout(total=3.0)  # below the readiness probe's timeoutSeconds
HEARTBEAT_TIMEOUT = aiohttp.ClientTimeout(total=1.5)  # a worker serving normally answers in ms


class WorkerView(Protocol):
    """What the admin port needs to know of the supervisor."""

    @property
    def draining(self) -> bool: ...

    def sockets(self) -> Sequence[tuple[int, str]]:
        """(worker index, admin socket path) for every worker slot."""
        ...

    def unresponsive(self) -> Sequence[int]:
        """Workers that stopped answering the supervisor's heartbeat (about to be restarted)."""
        ...

    def families(self) -> Iterator[Metric]:
        """The supervisor's own metrics."""
        ...


SUPERVISOR = web.AppKey("supervisor", WorkerView)


async def _ask(
    path: str, socket: str, bound: aiohttp.ClientTimeout = ASK_TIMEOUT
) -> tuple[int, bytes]:
    """A worker's answer on its admin socket; (0, b"") when it cannot answer (restarting)."""
    try:
        connector = aiohttp.UnixConnector(path=socket)
        async with (
            aiohttp.ClientSession(connector=connector, timeout=bound) as session,
            session.get(f"http://worker{path}") as response,
        ):
            return response.status, await response.read()
    except (aiohttp.ClientError, OSError, TimeoutError):
        return 0, b""


async def _ask_all(view: WorkerView, path: str) -> list[tuple[int, int, bytes]]:
    slots = view.sockets()
    answers = await asyncio.gather(*(_ask(path, socket) for _, socket in slots))
    return [
        (index, status, body) for (index, _), (status, body) in zip(slots, answers, strict=True)
    ]


async def heartbeat(socket: str) -> bool:
    """Does the worker on `socket` answer its /healthz (the supervisor asks every HEARTBEAT)?"""
    status, _ = await _ask("/healthz", socket, HEARTBEAT_TIMEOUT)
    return status == 200


async def healthz(request: web.Request) -> web.Response:
    """Liveness of the pod: fails while a worker has stopped answering, so a supervisor that
    cannot cure it (the restart keeps failing) gets the pod restarted."""
    stuck = list(request.app[SUPERVISOR].unresponsive())
    if stuck:
        body = {"status": "failing", "unresponsive_workers": stuck}
        return web.json_response(body, status=503)
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    view = request.app[SUPERVISOR]
    checks = {"serving": not view.draining}
    workers: dict[str, object] = {}
    for index, status, body in await _ask_all(view, "/readyz"):
        checks[f"worker:{index}"] = status == 200
        workers[str(index)] = _explained(status, body)
    ready = all(checks.values())
    answer = {"ready": ready, "checks": checks, "workers": workers}
    return web.json_response(answer, status=200 if ready else 503)


def _explained(status: int, body: bytes) -> object:
    """A worker's own /readyz body, or why there is none."""
    if status == 0:
        return {"ready": False, "reason": "not_answering"}
    try:
        return json.loads(body)
    except ValueError:
        return {"ready": status == 200, "reason": f"http_{status}"}


async def metrics(request: web.Request) -> web.Response:
    view = request.app[SUPERVISOR]
    texts = {index: body.decode() for index, status, body in await _ask_all(view, "/metrics")
             if status == 200}  # fmt: skip
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged(view, texts))
    body = await asyncio.to_thread(generate_latest, registry)
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response


class _Merged(Collector):
    def __init__(self, view: WorkerView, texts: dict[int, str]) -> None:
        self._view, self._texts = view, texts

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for index, text in self._texts.items():
            for family in text_string_to_metric_families(text):
                into = merged.setdefault(family.name, family)
                samples = [s._replace(labels={**s.labels, "worker": str(index)})
                           for s in family.samples]  # fmt: skip
                into.samples = samples if into is family else [*into.samples, *samples]
        yield from merged.values()
        yield from self._view.families()


def supervisor_families(
    alive: int, wanted: int, restarts: dict[int, int], draining: float = 0.0
) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
    yield GaugeMetricFamily("oma_gateway_workers", "Worker processes running.", value=alive)
    yield GaugeMetricFamily(
        "oma_gateway_workers_wanted", "Worker processes the supervisor keeps.", value=wanted
    )
    counter = CounterMetricFamily(
        "oma_gateway_worker_restarts", "Workers restarted after dying.", labels=["worker"]
    )
    for index, count in restarts.items():
        counter.add_metric([str(index)], count)
    yield counter
    yield GaugeMetricFamily(
        "oma_gateway_supervisor_draining", "1 while the supervisor drains its workers.",
        value=draining,
    )  # fmt: skip


def create_supervisor_admin_app(view: WorkerView) -> web.Application:
    app = web.Application()
    app[SUPERVISOR] = view
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
