"""Shared helpers for the sandbox tests: credentials and one-call wrappers."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

Client = TestClient[web.Request, web.Application]
JSON = dict[str, Any]

ADMIN = {"user": "admin@demo.adm", "password": "demo-password"}
DOMAIN_ADMIN = {"user": "domainadmin@demo.example", "password": "demo-password"}
ALICE = {"user": "alice@demo.example", "password": "demo-password"}
# The seeded admins of each role (gateway/sandbox/seed.py), all with the demo password.
VIEWER = {"user": "viewer@demo.adm", "password": "demo-password"}
MAIL_SETTINGS = {"user": "mailsettings@demo.adm", "password": "demo-password"}
READ_ONLY = {"user": "readonly@demo.adm", "password": "demo-password"}
TOKEN_ONLY = {"user": "tokenonly@demo.adm", "password": "demo-password"}
MAIL_ADMIN = {"user": "mailadmin@demo.example", "password": "demo-password"}
WORKGROUP_ADMIN = {"user": "wgadmin@demo.example", "password": "demo-password"}
OTHER_ADMIN = {"user": "admin@other.adm", "password": "demo-password"}


async def oma(client: Client, method: str, credentials: JSON | None = None, **fields: Any) -> JSON:
    """POST one OMA call (as the company admin unless told otherwise); expects HTTP 200."""
    body = {"credentials": ADMIN if credentials is None else credentials, **fields}
    response = await client.post(f"/api/{method}", json=body)
    assert response.status == 200, await response.text()
    reply: JSON = await response.json()
    return reply


async def session_token(client: Client, credentials: JSON | None = None, **fields: Any) -> str:
    reply = await oma(client, "authenticate", credentials, generate_session_token=True, **fields)
    assert reply["success"] is True, reply
    token: str = reply["session_token"]
    return token


OK = "ok"


async def outcome(client: Client, method: str, credentials: JSON, **fields: Any) -> int | str:
    """The call's error number, or OK when it succeeded."""
    reply = await oma(client, method, credentials, **fields)
    return OK if reply["success"] is True else int(reply["error_number"])


def with_token(user: str, token: str) -> JSON:
    return {"user": user, "token": token}
