"""The `oma-gateway` command as a real process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from gateway.secrets import digest

from .support import ROOT, cli, free_port, wait_for_port


def test_keys_new_prints_a_key_and_its_digest() -> None:
    result = cli("keys", "new")
    assert result.returncode == 0
    key, key_digest = result.stdout.split()
    assert re.fullmatch(r"omagw_[A-Za-z0-9_-]{43}", key)
    assert key_digest == digest(key)
    assert cli("keys", "new").stdout.split()[0] != key


def test_check_config_accepts_the_example() -> None:
    result = cli("check-config", str(ROOT / "config/example.yaml"), env={"OMA_PASSWORD": "x"})
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_check_config_lists_every_problem_with_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen: nowhere\nupstreams: {}\ncallers: {}\nmystery: 1\n")
    result = cli("check-config", str(bad))
    assert result.returncode == 1
    for path in ("listen:", "upstreams:", "callers:", "mystery:"):
        assert path in result.stderr


def test_serve_with_a_bad_config_exits_non_zero_before_listening(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    port = free_port()
    bad.write_text(f"listen: 127.0.0.1:{port}\nupstreams: {{}}\ncallers: {{}}\n")
    result = cli("serve", "--config", str(bad), timeout=20)
    assert result.returncode != 0
    assert "upstreams: expected at least one upstream" in result.stderr


def test_serve_with_no_config_gives_a_working_demo_gateway() -> None:
    """The README's first command: embedded defaults, a key printed, curl works."""
    listen, admin = free_port(), free_port()
    env = {**os.environ, "GATEWAY_DEMO_KEY": "omagw_readme_demo", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gateway", "serve", "--listen", f"127.0.0.1:{listen}",
         "--admin-listen", f"127.0.0.1:{admin}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for_port(listen, timeout=20)
        request = urllib.request.Request(
            f"http://127.0.0.1:{listen}/api/get_user",
            data=json.dumps({"user": "alice@demo.example"}).encode(),
            headers={"Authorization": "Bearer omagw_readme_demo"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            body = json.loads(response.read())
        assert body["success"] is True and body["attributes"]["name"] == "Alice Example"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "demo key: omagw_readme_demo" in err


def test_sandbox_command_serves_oma() -> None:
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gateway", "sandbox", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port, timeout=20)
        body = {"credentials": {"user": "admin@demo.adm", "password": "demo-password"}}
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/authenticate", data=json.dumps(body).encode()
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert json.loads(response.read())["success"] is True
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    time.sleep(0)
