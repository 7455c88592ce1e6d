"""Typed application keys shared by the sandbox's routes."""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.sandbox.sandbox import Sandbox

SANDBOX = web.AppKey("sandbox", Sandbox)
# Set at shutdown so that calls held by the `hang` fault let go.
STOPPING = web.AppKey("sandbox_stopping", asyncio.Event)
