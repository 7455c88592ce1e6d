"""What each way of being identified costs per request: API key in a header, a caller session
token in OMA's body credentials, and a client certificate alone, through one gateway process
serving HTTPS, in the same run (rounds rotate the order).

    .venv/bin/python -m bench.auth_cost [--requests 3000] [--rounds 4] [--concurrency 16]

Also prints the in-process cost of `Authentication.identify` for each. Certificates are made on
the fly (tests/auth/certs.py). Loopback only; bounded in requests and time.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import ssl
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench.audit_cost import PASSWORD, USER, start
from bench.cpu import cpu_seconds
from tests.auth.certs import CertAuthority, uri
from tests.support import free_port, wait_for_port

KEY = "omagw_bench_auth_cost_key_000000000000000000000000"
SPIFFE = "spiffe://bench/caller"


def gateway_config(root: Path, upstream: str, ca: CertAuthority) -> tuple[Path, int]:
    server, listen = ca.server(), free_port()
    config = {
        "listen": f"127.0.0.1:{listen}",
        "admin_listen": f"127.0.0.1:{free_port()}",
        "tls": {"cert_file": str(server.cert), "key_file": str(server.key),
                "client_ca_file": str(ca.cert_file)},
        "upstreams": {"oma": {"url": upstream, "user": USER, "password_env": "BENCH_PW"}},
        "callers": {"bench": {"keys": ["sha256:" + hashlib.sha256(KEY.encode()).hexdigest()],
                              "allow": ["get_user"], "tls_identities": [SPIFFE]}},
        "audit": {"file": "-"},
    }  # fmt: skip
    path = root / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, listen


async def load(url: str, context: ssl.SSLContext, body: dict[str, Any], headers: dict[str, str],
               requests: int, concurrency: int, pid: int) -> tuple[float, float]:  # fmt: skip
    """Seconds of wall time, and of the gateway process's CPU, for `requests` calls."""
    left = requests

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            async with session.post(url, json=body, headers=headers, ssl=context) as response:
                await response.read()
                assert response.status == 200, response.status

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))  # warm-up
        left = requests
        began, cpu = time.perf_counter(), cpu_seconds(pid)
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return time.perf_counter() - began, cpu_seconds(pid) - cpu


async def token_for(url: str, context: ssl.SSLContext) -> str:
    body = {"credentials": {"user": "bench", "password": KEY}, "generate_session_token": True}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url.replace("get_user", "authenticate"), json=body, ssl=context) as response,
    ):
        return str((await response.json())["session_token"])


def identify_cost(samples: int = 20000) -> dict[str, float]:
    """Microseconds per `identify` call, in process, memory store."""
    from gateway.auth import Authentication, CallerSessions
    from gateway.auth.presented import Presented
    from gateway.secrets import Secret
    from gateway.settings import CallerKey, CallerSettings
    from gateway.store.memory import MemoryCallerTokens

    key = CallerKey("sha256:" + hashlib.sha256(KEY.encode()).hexdigest())
    caller = CallerSettings(
        name="bench", keys=(key,), upstream="oma", allow=("get_user",), tls_identities=(SPIFFE,)
    )
    auth = Authentication({"bench": caller}, CallerSessions(MemoryCallerTokens()))

    async def run() -> dict[str, float]:
        from gateway.auth.keys import Identity

        answer = await auth.sessions.answer(
            Identity(caller, caller.keys[0]), {"generate_session_token": True}
        )
        cases = {
            "header key": Presented(header_key=Secret(KEY)),
            "session token": Presented(user="bench", token=Secret(answer["session_token"])),
            "client cert": Presented(cert_names=(SPIFFE,)),
        }
        out = {}
        for name, presented in cases.items():
            began = time.perf_counter()
            for _ in range(samples):
                await auth.identify(presented)
            out[name] = (time.perf_counter() - began) / samples * 1e6
        return out

    return asyncio.run(run())


async def main(requests: int, rounds: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ca = CertAuthority(root)
        client = ca.issue("client", "bench", [uri(SPIFFE)])
        port = free_port()
        sandbox = start(["sandbox", "--listen", f"127.0.0.1:{port}", "--user", USER,
                         "--password", PASSWORD])  # fmt: skip
        path, listen = gateway_config(root, f"http://127.0.0.1:{port}/api", ca)
        gateway = start(["serve", "--config", str(path)], {"BENCH_PW": PASSWORD})
        try:
            wait_for_port(port)
            wait_for_port(listen, timeout=20)
            url = f"https://127.0.0.1:{listen}/api/get_user"
            plain = ssl.create_default_context(cafile=str(ca.cert_file))
            with_cert = ssl.create_default_context(cafile=str(ca.cert_file))
            with_cert.load_cert_chain(str(client.cert), str(client.key))
            await asyncio.sleep(1)
            token = await token_for(url, plain)
            alice = {"user": "alice@demo.example"}
            cases: dict[str, tuple[ssl.SSLContext, dict[str, Any], dict[str, str]]] = {
                "header key": (plain, alice, {"Authorization": f"Bearer {KEY}"}),
                "body key": (
                    plain,
                    {**alice, "credentials": {"user": "bench", "password": KEY}},
                    {},
                ),
                "session token": (
                    plain,
                    {**alice, "credentials": {"user": "bench", "token": token}},
                    {},
                ),
                "client cert": (with_cert, alice, {}),
            }
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
            names = list(cases)
            for round_ in range(rounds):
                for name in names[round_ % len(names) :] + names[: round_ % len(names)]:  # rotate
                    context, body, headers = cases[name]
                    times[name].append(
                        await load(url, context, body, headers, requests, concurrency, gateway.pid)
                    )
        finally:
            for proc in (gateway, sandbox):
                proc.terminate()
                proc.wait(timeout=30)
    wall = {n: statistics.median(w for w, _ in t) / requests * 1e6 for n, t in times.items()}
    cpu = {n: statistics.median(c for _, c in t) / requests * 1e6 for n, t in times.items()}
    print(f"HTTPS, requests per round {requests}, rounds {rounds}, concurrency {concurrency}")
    print("  (medians; the gateway's CPU per request is the figure a noisy machine moves least)")
    for name in wall:
        wall_ratio, cpu_ratio = wall[name] / wall["header key"], cpu[name] / cpu["header key"]
        print(
            f"  {name:14}: {wall[name]:8.1f} us/request, ratio {wall_ratio:.3f};"
            f" gateway CPU {cpu[name]:6.1f} us/request, ratio {cpu_ratio:.3f}"
        )
    for name, us in (await asyncio.to_thread(identify_cost)).items():
        print(f"  identify in-process, {name:14}: {us:6.2f} us")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=16)
    options = parser.parse_args()
    asyncio.run(main(options.requests, options.rounds, options.concurrency))
