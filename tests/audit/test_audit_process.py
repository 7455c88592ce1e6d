"""The audit trail of a real `oma-gateway serve` process, checked by `oma-gateway audit verify`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.secrets import digest

from ..support import cli, free_port, wait_for_port

KEY = "omagw_audit_process_test_key_000000000000000"
PASSWORD = "audit-process-upstream-password"


def call(port: int, method: str, body: dict[str, Any], key: str | None = KEY) -> int:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/{method}", data=json.dumps(body).encode(), headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A gateway process that served a few calls and stopped: its audit file and its stdout."""
    root = tmp_path_factory.mktemp("served")
    listen, admin = free_port(), free_port()
    config = {
        "listen": f"127.0.0.1:{listen}",
        "admin_listen": f"127.0.0.1:{admin}",
        "upstreams": {"oma": {"url": "sandbox:", "user": "admin@demo.adm",
                              "password_env": "AUDIT_TEST_PASSWORD"}},
        "callers": {"ops": {"keys": [digest(KEY)], "upstream": "oma",
                            "allow": ["get_user", "change_user"]}},
        "audit": {"file": str(root / "audit.jsonl"), "durability": "fsync"},
    }  # fmt: skip
    (root / "gateway.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "gateway", "serve", "--config", str(root / "gateway.yaml")],
        env={**os.environ, "AUDIT_TEST_PASSWORD": PASSWORD, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for_port(listen, timeout=20)
        statuses = [
            call(listen, "get_user", {"user": "alice@demo.example"}),
            call(listen, "change_user", {"user": "bob@demo.example", "attributes": {"title": "X"}}),
            call(listen, "get_user", {"user": "alice@demo.example"}, key=None),
            call(listen, "delete_user", {"user": "bob@demo.example"}),
            call(listen, "get_user", {"user": "alice@demo.example", "password": PASSWORD}),
        ]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert statuses == [200, 200, 401, 403, 200]
    return root / "audit.jsonl", out


def test_the_served_calls_are_in_the_audit_file_and_it_verifies(served: tuple[Path, str]) -> None:
    path, _ = served
    records = [json.loads(line) for line in path.read_text().splitlines()]
    audits = [r for r in records if r["event"] == "audit"]
    assert records[0]["event"] == "chain_start"
    assert [(r["method"], r["status"]) for r in audits] == [
        ("get_user", 200), ("change_user", 200), ("get_user", 401), ("delete_user", 403),
        ("get_user", 200),
    ]  # fmt: skip
    result = cli("audit", "verify", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("intact: 6 lines")


def test_a_tampered_copy_is_rejected_with_the_line_number(
    served: tuple[Path, str], tmp_path: Path
) -> None:
    path, _ = served
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace('"status":401', '"status":200')  # hide a refused call
    assert lines[3] != path.read_text().splitlines(keepends=True)[3]
    copy = tmp_path / "tampered.jsonl"
    copy.write_text("".join(lines))
    result = cli("audit", "verify", str(copy))
    assert result.returncode == 1
    assert "broken at line 4:" in result.stderr


def test_stdout_carries_the_same_audit_events_as_json_without_secrets(
    served: tuple[Path, str],
) -> None:
    _, out = served
    events = [json.loads(line) for line in out.splitlines()]
    audits = [e for e in events if e["event"] == "audit"]
    assert len(audits) == 5 and all(e["timestamp"].endswith("Z") for e in events)
    assert KEY not in out and PASSWORD not in out
    assert audits[-1]["targets"] == {"user": "alice@demo.example"}
