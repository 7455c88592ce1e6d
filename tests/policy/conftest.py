"""Fixtures for the policy tests: the real sandbox behind the gateway, and a real recording
upstream that keeps every body it receives, so a test can say exactly what reached "OMA"."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient, AiohttpServer
from structlog.testing import capture_logs

from gateway.app import create_app
from gateway.settings import CallerSettings

from ..support import Client, bearer, make_settings


@dataclass
class Recorder:
    """A minimal OMA: logs the gateway in, answers every other method with success, and keeps
    each forwarded body."""

    bodies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        method, body = request.match_info["method"], await request.json()
        if method == "authenticate":
            return web.json_response(
                {
                    "success": True,
                    "session_token": secrets.token_hex(16),
                    "session_token_duration": 3600,
                }
            )
        self.bodies.append((method, body))
        return web.json_response({"success": True})

    def forwarded(self) -> list[tuple[str, dict[str, Any]]]:
        return list(self.bodies)


@pytest.fixture
async def recorder(aiohttp_server: AiohttpServer) -> tuple[Recorder, str]:
    recorder = Recorder()
    app = web.Application()
    app.router.add_post("/api/{method}", recorder.handle)
    server = await aiohttp_server(app)
    return recorder, str(server.make_url("/api"))


async def gateway_for(
    aiohttp_client: AiohttpClient, url: str, callers: Mapping[str, CallerSettings]
) -> Client:
    return await aiohttp_client(create_app(make_settings(url, dict(callers))))


async def audited_post(
    gw: Client, method: str, body: dict[str, Any], caller: str
) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """POST as `caller`; the status, the answer, and the call's one audit record."""
    with capture_logs() as logs:
        response = await gw.post(f"/api/{method}", json=body, headers=bearer(caller))
        answer = await response.json()
    (record,) = [dict(e) for e in logs if e["event"] == "audit"]
    return response.status, answer, record
