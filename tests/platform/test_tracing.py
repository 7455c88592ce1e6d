"""Tracing through real processes: the gateway exports spans to a real OTLP/HTTP receiver (served
here by aiohttp, decoding the protobuf), continues the caller's trace and logs its id, on every
line of the call, with or without an exporter."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from pytest_aiohttp import AiohttpServer

from gateway import __version__
from gateway.tracing import parse_traceparent

from ..ops.procs import Ports, config, gateway_process, sandbox_process, wait_ready, write_config
from ..support import KEYS

TRACE, PARENT = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


async def otlp_receiver(aiohttp_server: AiohttpServer, received: list[Any]) -> str:
    async def traces(request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        received.extend(
            span for rs in message.resource_spans for ss in rs.scope_spans for span in ss.spans
        )
        body = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    server = await aiohttp_server(app)
    return f"http://127.0.0.1:{server.port}"


async def test_spans_for_call_login_and_upstream_reach_a_real_otlp_receiver(
    aiohttp_server: AiohttpServer, tmp_path: Path
) -> None:
    spans: list[Any] = []
    endpoint = await otlp_receiver(aiohttp_server, spans)
    ports = Ports()
    with sandbox_process() as oma_url:
        tracing = {"otlp_endpoint": endpoint, "service_name": "gw-test"}
        document = config(oma_url, ports, {"billing": ["billing"]}, tracing=tracing)
        path = write_config(tmp_path / "gw.yaml", document)
        with gateway_process("serve", "--config", str(path)) as gw:
            await asyncio.to_thread(wait_ready, ports.admin_url)
            headers = {
                "Authorization": f"Bearer {KEYS['billing']}",
                "traceparent": f"00-{TRACE}-{PARENT}-01",
                "tracestate": "vendor=x",
            }
            async with aiohttp.ClientSession() as session:
                for sent in (headers, {"Authorization": headers["Authorization"]}):
                    async with session.post(
                        f"{ports.url}/api/get_user", json={"user": "alice@demo.example"},
                        headers=sent,
                    ) as answer:  # fmt: skip
                        assert answer.status == 200
            seen = await sandbox_requests(oma_url)
            gw.signal(signal.SIGTERM)
            assert await asyncio.to_thread(gw.wait, 30) == 0
            lines = [json.loads(line) for line in gw.lines if line.startswith("{")]
    by_name: dict[str, list[Any]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    calls = by_name["oma_gateway.call"]
    continued = next(s for s in calls if s.trace_id.hex() == TRACE)
    assert continued.parent_span_id.hex() == PARENT
    assert continued.trace_state == "vendor=x", "the caller's tracestate is the span's"
    upstream = [s for s in by_name["oma_gateway.upstream"] if s.parent_span_id == continued.span_id]
    assert len(upstream) == 1
    assert by_name["oma_gateway.login"], "the warm-up login has its span"
    limits = [s for s in by_name["oma_gateway.limits"] if s.parent_span_id == continued.span_id]
    assert len(limits) == 1, "the limit check is a span of the call"
    audits = [line for line in lines if line.get("event") == "audit"]
    assert audits[0]["trace_id"] == TRACE
    fresh = audits[1]["trace_id"]
    assert len(fresh) == 32 and fresh != TRACE
    assert any(s.trace_id.hex() == fresh for s in calls), "a made trace id is the span's too"
    started = next(line for line in lines if line["event"] == "gateway_listening")
    assert started["version"] == __version__ and started["revision"]
    assert started["upstreams"] == {
        "oma": "http://127.0.0.1:" + oma_url.split(":")[2].split("/")[0]
    }
    assert started["callers"] == 1 and started["workers"] == 1
    # OMA gets the trace context of the exchange's own span, so its side joins the trace there.
    continued_at_oma, fresh_at_oma = [r for r in seen if r["method"] == "get_user"]
    fresh_upstream = next(s for s in by_name["oma_gateway.upstream"] if s.trace_id.hex() == fresh)
    for recorded, trace_id, span in (
        (continued_at_oma, TRACE, upstream[0]),
        (fresh_at_oma, fresh, fresh_upstream),
    ):
        context = parse_traceparent(recorded["traceparent"])
        assert context is not None, recorded
        assert (context.trace_id, context.span_id) == (trace_id, span.span_id.hex())
        assert context.flags & 1, "sampled"
    assert continued_at_oma["tracestate"] == "vendor=x"
    (login,) = [r for r in seen if r["method"] == "authenticate"]
    login_context = parse_traceparent(login["traceparent"])
    assert login_context is not None
    assert login_context.trace_id == by_name["oma_gateway.login"][0].trace_id.hex()


async def sandbox_requests(oma_url: str) -> list[dict[str, Any]]:
    """What the sandbox recorded of each call it got, trace headers included."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{oma_url.removesuffix('/api')}/_sandbox/requests") as answer,
    ):
        return list((await answer.json())["requests"])


async def sandbox_control(oma_url: str, path: str, body: dict[str, Any]) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{oma_url.removesuffix('/api')}/_sandbox/{path}", json=body) as answer,
    ):
        assert answer.status == 200, await answer.text()


async def test_without_an_exporter_every_log_line_of_a_call_carries_its_trace_id(
    tmp_path: Path,
) -> None:
    ports = Ports()
    with sandbox_process() as oma_url:
        document = config(oma_url, ports, {"billing": ["billing"]})  # no `tracing`: no export
        path = write_config(tmp_path / "gw.yaml", document)
        with gateway_process("serve", "--config", str(path)) as gw:
            await asyncio.to_thread(wait_ready, ports.admin_url)
            # The gateway's session is gone and its next login fails once: the call logs a
            # warning of its own before its audit record.
            await sandbox_control(oma_url, "revoke_tokens", {})
            await sandbox_control(oma_url, "faults", {"reject_logins": {"times": 1}})
            headers = {
                "Authorization": f"Bearer {KEYS['billing']}",
                "traceparent": f"00-{TRACE}-{PARENT}-01",
                "X-Request-ID": "traced-1",
            }
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    f"{ports.url}/api/get_user", json={"user": "alice@demo.example"},
                    headers=headers,
                ) as answer,
            ):  # fmt: skip
                assert answer.status == 502
            await asyncio.to_thread(gw.wait_for, '"event":"audit"')
            lines = [json.loads(line) for line in list(gw.lines) if line.startswith("{")]
    of_call = [line for line in lines if line.get("request_id") == "traced-1"]
    assert {line["event"] for line in of_call} >= {"oma_login_rejected", "audit"}, of_call
    assert all(line.get("trace_id") == TRACE for line in of_call), of_call


def test_traceparent_parsing_follows_w3c() -> None:
    good = parse_traceparent(f"00-{TRACE}-{PARENT}-01", "a=b")
    assert good is not None and (good.trace_id, good.span_id, good.flags) == (TRACE, PARENT, 1)
    assert parse_traceparent(f"01-{TRACE}-{PARENT}-00-later-field") is not None
    for bad in (None, "", f"00-{TRACE}-{PARENT}-01-extra", f"ff-{TRACE}-{PARENT}-01",
                f"00-{'0' * 32}-{PARENT}-01", f"00-{TRACE}-{'0' * 16}-01",
                f"00-{TRACE.upper()}-{PARENT}-01", "garbage"):  # fmt: skip
        assert parse_traceparent(bad) is None, bad
    assert parse_traceparent(f"00-{TRACE}-{PARENT}-01", "x" * 600).state is None  # type: ignore[union-attr]
