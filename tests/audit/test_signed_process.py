"""A signed trail written by real processes: two workers sharing the file, logrotate by rename,
a restart, logrotate by copytruncate; it all verifies against the public key and the head that
stdout holds."""

from __future__ import annotations

import json
import shutil
import signal
import time
import urllib.request
from pathlib import Path

import yaml

from gateway.secrets import digest

from ..ops.procs import gateway_process, sandbox_process
from ..support import KEYS, OMA_USER, cli, free_port, wait_for_port
from .trail import make_key


def call(port: int, n: int) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/get_user",
        data=json.dumps({"user": f"user{n}@demo.example"}).encode(),
        headers={"Authorization": f"Bearer {KEYS['billing']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        response.read()


def config(root: Path, upstream: str, key: Path) -> tuple[Path, int]:
    port = free_port()
    document = {
        "listen": f"127.0.0.1:{port}",
        "admin_listen": f"127.0.0.1:{free_port()}",
        "upstreams": {"oma": {"url": upstream, "user": OMA_USER,
                              "password_env": "OMA_TEST_PASSWORD"}},
        "callers": {"billing": {"keys": [digest(KEYS["billing"])], "allow": ["get_user"]}},
        # Checkpoints here come from rotation and close: a timer-driven one landing between
        # the copy and the truncation of copytruncate would be lost with it (logrotate's window).
        "audit": {"file": str(root / "audit.jsonl"), "signing_key_file": str(key),
                  "checkpoint_interval": "1h"},
    }  # fmt: skip
    path = root / "gateway.yaml"
    path.write_text(yaml.safe_dump(document))
    return path, port


def serve(path: Path, port: int, workers: int, calls: range, between: object = None) -> list[str]:
    """Run the gateway, make `calls`, call `between()` halfway, stop it; its output lines."""
    with gateway_process("serve", "--config", str(path), "--workers", str(workers)) as proc:
        wait_for_port(port, timeout=30)
        half = calls.start + len(calls) // 2
        for n in calls:
            if n == half and callable(between):
                time.sleep(0.3)  # the writers have written what they were given
                between()
            call(port, n)
        time.sleep(0.3)
        proc.signal(signal.SIGTERM)
        assert proc.wait(30) == 0, proc.output()
        return list(proc.lines)


def test_workers_rotation_and_restarts_keep_one_verifiable_signed_trail(tmp_path: Path) -> None:
    private, public = make_key(tmp_path)
    log = tmp_path / "audit.jsonl"

    def rename() -> None:
        log.rename(tmp_path / "audit.jsonl.1")

    def copytruncate() -> None:
        shutil.copyfile(log, tmp_path / "audit.jsonl.2")
        with log.open("r+b") as file:
            file.truncate(0)

    with sandbox_process() as upstream:
        path, port = config(tmp_path, upstream, private)
        out = serve(path, port, 2, range(0, 20), rename)
        out += serve(path, port, 1, range(20, 30), copytruncate)
    files = [tmp_path / "audit.jsonl.1", tmp_path / "audit.jsonl.2", log]
    audits = [
        json.loads(line)
        for f in files
        for line in f.read_text().splitlines()
        if '"event":"audit"' in line
    ]
    assert sorted(r["targets"]["user"] for r in audits) == sorted(
        f"user{n}@demo.example" for n in range(30)
    )
    starts = [
        json.loads(line)
        for f in files
        for line in f.read_text().splitlines()
        if '"event":"chain_start"' in line
    ]
    reasons = [s["reason"] for s in starts]
    assert reasons.count("process_start") == 3  # two workers, then the restarted process
    assert "rotated" in reasons and "truncated" in reasons
    heads = [json.loads(line)["head"] for line in out if '"event": "checkpoint"' in line
             or '"event":"checkpoint"' in line]  # fmt: skip
    assert len(heads) >= 4  # rotation, opening, and each worker's close, on stdout
    result = cli("audit", "verify", "--public-key", str(public), "--expect-head", heads[-1],
                 *map(str, files))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "checkpoints verified" in result.stdout
    result = cli("audit", "verify", "--public-key", str(public), str(files[0]))
    assert result.returncode == 0, result.stderr  # a file rotated by rename ends signed
