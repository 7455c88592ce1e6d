"""The embedded defaults: a working gateway with nothing configured.

`oma-gateway serve` without `--config` runs the memory store, the bundled sandbox as upstream, and
one caller, `demo`, allowed the read-only user and domain methods. Its key is made fresh at each
start (or taken from `GATEWAY_DEMO_KEY`) and printed once, with a ready-to-paste `curl`.
"""

from __future__ import annotations

import os

from .secrets import Secret, digest, new_api_key
from .settings import SANDBOX_URL, CallerKey, CallerSettings, Settings, UpstreamSettings

__all__ = ["demo_settings"]

DEMO_USER = "admin@demo.adm"
DEMO_PASSWORD = "demo-password"  # noqa: S105 (the bundled sandbox's published demo login)


def demo_settings() -> tuple[Settings, str]:
    key = os.environ.get("GATEWAY_DEMO_KEY") or new_api_key()
    upstream = UpstreamSettings(
        name="sandbox",
        url=SANDBOX_URL,
        user=DEMO_USER,
        password=Secret(DEMO_PASSWORD),
        client="oma-gateway-demo",
    )
    caller = CallerSettings(
        name="demo",
        keys=(CallerKey(digest(key)),),
        upstream="sandbox",
        allow=("get_*", "search_*", "echo", "change_user", "generate_token"),
    )
    return Settings(upstreams={"sandbox": upstream}, callers={"demo": caller}), key


def demo_banner(settings: Settings, key: str) -> str:
    url = f"http://{settings.listen}/api/get_user"
    return (
        f"oma-gateway demo: memory store, bundled sandbox upstream, caller 'demo'\n"
        f"  demo key: {key}\n"
        f"  try: curl -s -H 'Authorization: Bearer {key}' -d '{{\"user\": \"alice@demo.example\"}}'"
        f" {url}\n"
        f"  admin: http://{settings.admin_listen}/metrics  /healthz  /readyz"
    )
