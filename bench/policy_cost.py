"""What scope and parameter policy cost per request: one gateway process serving a scoped caller
and an unscoped one, the same `get_user` for both, in the same run.

    .venv/bin/python -m bench.policy_cost [--requests 4000] [--rounds 4] [--concurrency 32]

Both callers go through the same process, upstream (a sandbox process) and config, so the only
difference is what the scoped one adds: its domain scope. Everything else runs for both, as it
runs for every caller and cannot be switched off: the allowlist, the protected logins (and the
`.adm` check) and the parameter rules. The ratio is the cost of scope over that. Rounds
alternate ABBA. Also prints the in-process cost of `authorize` for a few
typical bodies. Loopback only; bounded in requests and time.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.audit_cost import PASSWORD, USER, load, start
from tests.support import free_port, wait_for_port

KEYS = {
    "scoped": "omagw_bench_policy_scoped_key_000000000000000000",
    "unscoped": "omagw_bench_policy_unscoped_key_0000000000000000",
}
SCOPE = {"domains": ["demo.example", "*.demo.example", "customers.example"]}


def gateway_config(root: Path, upstream: str) -> tuple[Path, int]:
    listen = free_port()
    callers: dict[str, Any] = {
        name: {"keys": ["sha256:" + hashlib.sha256(key.encode()).hexdigest()],
               "upstream": "oma", "allow": ["get_user"]}
        for name, key in KEYS.items()
    }  # fmt: skip
    callers["scoped"]["scope"] = SCOPE
    config = {
        "listen": f"127.0.0.1:{listen}",
        "admin_listen": f"127.0.0.1:{free_port()}",
        "upstreams": {"oma": {"url": upstream, "user": USER, "password_env": "BENCH_PW"}},
        "callers": callers,
        "audit": {"file": "-"},
    }
    path = root / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, listen


def authorize_cost(scoped: bool, samples: int = 20000) -> float:
    """Microseconds per call for target extraction plus `authorize`, over typical bodies."""
    from gateway.policy.caller import CallerPolicy
    from gateway.policy.methods import Allowlist
    from gateway.policy.params import ParamRules
    from gateway.policy.scope import DomainScope, ProtectedLogins, Unscoped
    from gateway.settings import CallerParams

    policy = CallerPolicy(
        name="bench",
        allowlist=Allowlist(("get_*", "change_user", "search_users", "generate_token")),
        scope=DomainScope(SCOPE["domains"]) if scoped else Unscoped(),
        protected=ProtectedLogins([USER]),
        params=ParamRules(CallerParams()),
        limits=None,  # type: ignore[arg-type]  # authorize consults neither
        forwarder=None,  # type: ignore[arg-type]
    )
    bodies: list[tuple[str, dict[str, Any]]] = [
        ("get_user", {"user": "alice@demo.example"}),
        (
            "change_user",
            {"user": "bob@eu.demo.example", "attributes": {"name": "B", "status": "active"}},
        ),
        (
            "search_users",
            {"criteria": {"domain": "demo.example", "match": "a*"}, "range": {"limit": 10}},
        ),
        (
            "generate_token",
            {"user": "carol@demo.example", "type": "sso", "duration": 1, "reason": "t"},
        ),
    ]
    began = time.perf_counter()
    for i in range(samples):
        method, body = bodies[i % len(bodies)]
        policy.authorize(method, body, policy.targets(method, body))
    return (time.perf_counter() - began) / samples * 1e6


async def main(requests: int, rounds: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        sandbox = start(["sandbox", "--listen", f"127.0.0.1:{port}", "--user", USER,
                         "--password", PASSWORD])  # fmt: skip
        path, listen = gateway_config(Path(tmp), f"http://127.0.0.1:{port}/api")
        gateway = start(["serve", "--config", str(path)], {"BENCH_PW": PASSWORD})
        try:
            wait_for_port(port)
            wait_for_port(listen, timeout=20)
            times: dict[str, list[float]] = {name: [] for name in KEYS}
            for round_ in range(rounds):
                order = list(KEYS.items())[:: 1 if round_ % 2 == 0 else -1]  # ABBA
                for name, key in order:
                    times[name].append(await load(listen, requests, concurrency, key))
        finally:
            for proc in (gateway, sandbox):
                proc.terminate()
                proc.wait(timeout=30)
    per = {name: statistics.median(t) / requests * 1e6 for name, t in times.items()}
    spread = {name: (min(t) / requests * 1e6, max(t) / requests * 1e6) for name, t in times.items()}
    print(f"requests per round {requests}, rounds {rounds}, concurrency {concurrency}")
    for name in KEYS:
        low, high = spread[name]
        print(f"  {name:9}: {per[name]:8.1f} us/request (median; rounds {low:.1f}-{high:.1f})")
    print(f"  ratio scoped/unscoped : {per['scoped'] / per['unscoped']:6.3f}")
    scoped_us, unscoped_us = authorize_cost(True), authorize_cost(False)
    print(f"  authorize in-process  : scoped {scoped_us:.2f} us, unscoped {unscoped_us:.2f} us")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    options = parser.parse_args()
    asyncio.run(main(options.requests, options.rounds, options.concurrency))
