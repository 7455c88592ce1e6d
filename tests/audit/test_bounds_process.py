"""A real gateway process under a stream of 1 MB anonymous bodies: its memory stays bounded, the
audit file grows by short lines only, and keeps receiving records after them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import yaml

from gateway.secrets import digest

from ..ops.procs import gateway_process
from ..support import KEYS, OMA_USER, free_port, wait_for_port


def post(port: int, body: bytes, key: str | None) -> int:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/get_user", data=body, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])


def test_megabyte_401s_leave_memory_and_the_file_bounded(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "audit.jsonl"
    config = {
        "listen": f"127.0.0.1:{port}", "admin_listen": f"127.0.0.1:{free_port()}",
        "upstreams": {"oma": {"url": "sandbox:", "user": OMA_USER,
                              "password_env": "OMA_TEST_PASSWORD"}},
        "callers": {"billing": {"keys": [digest(KEYS["billing"])], "allow": ["get_user"]}},
        "audit": {"file": str(log)},
    }  # fmt: skip
    (tmp_path / "gateway.yaml").write_text(yaml.safe_dump(config))
    body = orjson.dumps({"user": "x@demo.example", "ids": [[f"{n:.3f}"] for n in range(68000)]})
    assert len(body) > 900_000
    with gateway_process("serve", "--config", str(tmp_path / "gateway.yaml")) as proc:
        wait_for_port(port, timeout=20)
        for _ in range(5):
            assert post(port, body, None) == 401  # warm-up: buffers and allocator settle
        before = rss_kib(proc.popen.pid)
        assert all(post(port, body, None) in (401, 429) for _ in range(60))
        after = rss_kib(proc.popen.pid)
        ok = json.dumps({"user": "bob@demo.example"}).encode()
        assert post(port, ok, KEYS["billing"]) == 200
        proc.signal(15)
        assert proc.wait(30) == 0
    assert after - before < 32 * 1024, (before, after)  # 60 MB sent, far less kept
    lines = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    audits = [r for r in lines if r["event"] == "audit"]
    assert len(audits) == 66 and audits[-1]["status"] == 200
    assert log.stat().st_size < 66 * 2048  # 65 MB in, short lines out
