"""The admin port of a multi-worker gateway: one `/healthz`, `/readyz` and `/metrics` per pod.

Kubernetes probes and Prometheus scrapes one address per pod and expect it to speak for the whole
pod, not for whichever process the kernel picked. So only the supervisor binds `admin_listen`;
each worker serves its own admin app on a unix socket in the supervisor's run directory, and the
supervisor asks all of them. `/readyz` is ready when the supervisor is not draining and every
worker says ready; `/metrics` is every worker's exposition with a `worker` label added (sum it
away in queries), plus the supervisor's own worker gauges.
"""

from __future__ import annotations

import asyncio
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


class WorkerView(Protocol):
    """What the admin port needs to know of the supervisor."""

    @property
    def draining(self) -> bool: ...

    def sockets(self) -> Sequence[tuple[int, str]]:
        """(worker index, admin socket path) for every worker slot."""
        ...

    def families(self) -> Iterator[Metric]:
        """The supervisor's own metrics."""
        ...


SUPERVISOR = web.AppKey("supervisor", WorkerView)


async def _ask(path: str, socket: str) -> tuple[int, bytes]:
    """A worker's answer on its admin socket; (0, b"") when it cannot answer (restarting)."""
    try:
        connector = aiohttp.UnixConnector(path=socket)
        async with (
            aiohttp.ClientSession(connector=connector, timeout=ASK_TIMEOUT) as session,
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


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    view = request.app[SUPERVISOR]
    checks = {"serving": not view.draining}
    for index, status, _ in await _ask_all(view, "/readyz"):
        checks[f"worker:{index}"] = status == 200
    ready = all(checks.values())
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


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
    alive: int, wanted: int, restarts: dict[int, int]
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


def create_supervisor_admin_app(view: WorkerView) -> web.Application:
    app = web.Application()
    app[SUPERVISOR] = view
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app
