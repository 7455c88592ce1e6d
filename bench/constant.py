"""nginx as a zero-cost OMA upstream: every answer is a constant from memory.

`authenticate` gets a session token, every other `/api/<method>` a small success body. One
worker, no master, in the foreground, so the bench stops it like any other child. It costs a
few microseconds per call, so the proxy under test is the only thing measured.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

TOKEN = os.urandom(16).hex()
AUTH_BODY = orjson.dumps({"success": True, "session_token": TOKEN, "session_token_duration": 10800})
OK_BODY = orjson.dumps({"success": True, "attributes": {"account": "alice@demo.example"}})

CONF = """\
worker_processes 1;
daemon off;
master_process off;
pid {prefix}/upstream.pid;
error_log {prefix}/upstream-error.log warn;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/ubody;
    proxy_temp_path {prefix}/uproxy;
    fastcgi_temp_path {prefix}/ufastcgi;
    uwsgi_temp_path {prefix}/uuwsgi;
    scgi_temp_path {prefix}/uscgi;
    keepalive_requests 1000000;
    keepalive_timeout 600s;
    default_type application/json;
    server {{
        listen 127.0.0.1:{port} backlog=16384;
        location = /api/authenticate {{ return 200 '{auth}'; }}
        location /api/ {{ return 200 '{ok}'; }}
    }}
}}
"""


def write_conf(prefix: Path, port: int) -> Path:
    prefix.mkdir(parents=True, exist_ok=True)
    conf = CONF.format(prefix=prefix, port=port, auth=AUTH_BODY.decode(), ok=OK_BODY.decode())
    path = prefix / "upstream.conf"
    path.write_text(conf)
    return path
