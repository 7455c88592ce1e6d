"""What auditing costs per request: a gateway writing the hash-chained audit file against the same
gateway with the audit trail on stdout only (stdout to /dev/null in both), in the same run.

    .venv/bin/python -m bench.audit_cost [--requests 4000] [--rounds 3] [--concurrency 32]

Both gateways run as real processes in front of one sandbox process, and are loaded in turns
(file, stdout, stdout, file, ...) so drift and order on this machine hit both alike;
`--control` runs both gateways stdout-only, to show the noise floor of the ratio. The figure is the
ratio of wall time per request (file / stdout-only), plus the in-process cost of one record.
The file gateway signs checkpoints (Ed25519, the default 10 s interval): the run reports the
cost of one checkpoint, that cost amortised per record at the measured rate and at 1 call/s,
and its share of a call's CPU (the gateway process's CPU time per call, from /proc).
Loopback only; bounded in requests and time.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml

from gateway.audit.sign import keygen
from tests.support import free_port, wait_for_port

KEY = "omagw_bench_audit_cost_key_00000000000000000000"
USER, PASSWORD = "admin@demo.adm", "demo-password"


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "gateway", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})},
    )  # fmt: skip


def gateway_config(
    root: Path, upstream: str, audit_file: str, key: Path | None = None
) -> tuple[Path, int]:
    listen = free_port()
    audit: dict[str, str] = {"file": audit_file}
    if key is not None:
        audit["signing_key_file"] = str(key)
    config = {
        "listen": f"127.0.0.1:{listen}",
        "admin_listen": f"127.0.0.1:{free_port()}",
        "upstreams": {"oma": {"url": upstream, "user": USER, "password_env": "BENCH_PW"}},
        "callers": {"bench": {"keys": ["sha256:" + hashlib.sha256(KEY.encode()).hexdigest()],
                              "upstream": "oma", "allow": ["get_user"]}},
        "audit": audit,
    }  # fmt: skip
    path = root / f"gateway-{listen}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, listen


async def load(port: int, requests: int, concurrency: int, key: str = KEY) -> float:
    """Seconds for `requests` calls with `concurrency` in flight."""
    url = f"http://127.0.0.1:{port}/api/get_user"
    body, headers = b'{"user": "alice@demo.example"}', {"Authorization": f"Bearer {key}"}
    left = requests

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                assert response.status == 200, response.status

    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))  # warm-up
        left = requests
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return time.perf_counter() - began


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def checkpoint_cost(key: Path, samples: int = 2000) -> float:
    """Microseconds per checkpoint: build and sign the record, encode and seal its line."""
    from gateway.audit.encode import encode
    from gateway.audit.lines import seal_encoded
    from gateway.audit.sign import Signer

    signer, head = Signer(key.read_text(), writer="bench"), "0" * 64
    began = time.perf_counter()
    for _ in range(samples):
        seal_encoded(encode(signer.checkpoint(head)), head)
    return (time.perf_counter() - began) / samples * 1e6


def record_cost(to_file: bool, samples: int = 10000) -> float:
    """Microseconds per audit record in process: build, redact, log a JSON line (to /dev/null)
    and, with a file, hand it to the writer; the time includes draining the writer thread."""
    from gateway import logs
    from gateway.audit import AuditTrail
    from gateway.audit.stdout import writer_for
    from gateway.call import Call
    from gateway.settings import AuditSettings

    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "wb") as devnull:
        logs.configure(
            stream=devnull, cache=False
        )  # production's chain: redaction, orjson, bytes logger
        trail = AuditTrail(AuditSettings(file=str(Path(tmp) / "a.jsonl") if to_file else None))
        if trail.writer is not None:
            trail.writer.start()
        call = Call("r-1", "127.0.0.1", method="get_user", body={"user": "alice@demo.example"})
        call.answer, call.status, call.duration = {"success": True}, 200, 0.001
        began = time.perf_counter()
        for _ in range(samples):
            trail.observe(call)
        if trail.writer is not None:
            trail.writer.close()  # every record sealed and written
            assert trail.writer.lost == 0
        spent = time.perf_counter() - began
        # Lines still pending go out now, while /dev/null is open: the next configure flushes the
        # writer it replaces, and a closed stream would make that flush fail.
        writer_for(devnull).flush()
    return spent / samples * 1e6


async def main(requests: int, rounds: int, concurrency: int, control: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        port = free_port()
        sandbox = start(["sandbox", "--listen", f"127.0.0.1:{port}", "--user", USER,
                         "--password", PASSWORD])  # fmt: skip
        upstream = f"http://127.0.0.1:{port}/api"
        audit_file = "-" if control else str(root / "audit.jsonl")
        key = root / "signing-key.pem"
        keygen(key)
        configs = {"file": gateway_config(root, upstream, audit_file, None if control else key),
                   "stdout": gateway_config(root, upstream, "-")}  # fmt: skip
        procs = [start(["serve", "--config", str(p)], {"BENCH_PW": PASSWORD})
                 for p, _ in configs.values()]  # fmt: skip
        try:
            wait_for_port(port)
            for _, listen in configs.values():
                wait_for_port(listen, timeout=20)
            times: dict[str, list[float]] = {"file": [], "stdout": []}
            cpu = {"file": 0.0, "stdout": 0.0}
            pids = dict(zip(configs, (p.pid for p in procs), strict=True))
            for round_ in range(rounds):
                # ABBA order: whichever runs first in a round is slower here, so alternate.
                order = list(configs.items())[:: 1 if round_ % 2 == 0 else -1]
                for name, (_, listen) in order:
                    before = cpu_seconds(pids[name])
                    times[name].append(await load(listen, requests, concurrency))
                    cpu[name] += cpu_seconds(pids[name]) - before
        finally:
            for proc in (*procs, sandbox):
                proc.terminate()
                proc.wait(timeout=30)
        sign_us = checkpoint_cost(key)
    per = {name: statistics.median(t) / requests * 1e6 for name, t in times.items()}
    print(f"requests per round {requests}, rounds {rounds}, concurrency {concurrency}"
          + (" (CONTROL: both stdout only)" if control else ""))  # fmt: skip
    print(f"  audit file + stdout : {per['file']:8.1f} us/request (median of rounds)")
    print(f"  stdout only         : {per['stdout']:8.1f} us/request")
    print(f"  ratio file/stdout   : {per['file'] / per['stdout']:8.3f}")
    # cpu_seconds includes each round's warm-up pass: 2 x requests calls per round.
    call_cpu = {name: spent / (2 * requests * rounds) * 1e6 for name, spent in cpu.items()}
    print(
        f"  gateway CPU per call: file {call_cpu['file']:.1f} us,"
        f" stdout {call_cpu['stdout']:.1f} us"
    )
    if not control:
        report_signing(sign_us, call_cpu["file"], 1e6 / per["file"])
    file_us, stdout_us = record_cost(True), record_cost(False)
    print(f"  one record in-process, file + stdout: {file_us:6.1f} us")
    print(f"  one record in-process, stdout only  : {stdout_us:6.1f} us")
    print(f"  in-process cost of the file alone   : {file_us - stdout_us:6.1f} us/record")


def report_signing(sign_us: float, call_cpu_us: float, rate: float) -> None:
    """One checkpoint per 10 s interval per worker, amortised over that interval's calls (an
    idle writer signs nothing: a checkpoint only ever follows records)."""
    print(f"  one signed checkpoint               : {sign_us:6.1f} us")
    per_record = sign_us / (rate * 10.0)
    print(f"  signing per record at {rate:.0f} calls/s : {per_record:8.3f} us"
          f" ({per_record / call_cpu_us * 100:.3f}% of a call's CPU)")  # fmt: skip
    floor = sign_us / (0.02 * call_cpu_us * 10.0)
    print(f"  signing stays under 2% of a call's CPU from {floor:.2f} calls/s per worker up")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--control", action="store_true", help="A/A run: both gateways stdout only (noise floor)"
    )
    options = parser.parse_args()
    asyncio.run(main(options.requests, options.rounds, options.concurrency, options.control))
