"""nginx `proxy_pass` as the reference proxy: one worker, keep-alive to the upstream.

The conf is generated into a temporary prefix and nginx runs in the foreground
(`daemon off`) as a child of the bench, so the bench can stop it like any other child.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

CONF = """\
worker_processes 1;
daemon off;
# One process, no master: it serves like one worker, and it dies with the bench (no orphans).
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream oma {{
        server {upstream_host}:{upstream_port};
        keepalive 256;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=16384;
        keepalive_requests 1000000;
        location /api/ {{
            proxy_pass http://oma{upstream_path}/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering on;
        }}
    }}
}}
"""


def find_nginx(explicit: str | None = None) -> str | None:
    """The nginx binary to use, or None when it is not installed."""
    if explicit is not None:
        return explicit if Path(explicit).is_file() else None
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).is_file()), None
    )


def write_conf(prefix: Path, port: int, upstream: str) -> Path:
    parts = urlsplit(upstream)
    conf = CONF.format(
        prefix=prefix,
        port=port,
        upstream_host=parts.hostname,
        upstream_port=parts.port or 80,
        upstream_path=parts.path.rstrip("/"),
    )
    path = prefix / "nginx.conf"
    path.write_text(conf)
    return path


def command(binary: str, prefix: Path, conf: Path) -> list[str]:
    return [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
