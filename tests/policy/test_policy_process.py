"""The policy through real processes: `oma-gateway serve` with a scoped config in front of
`oma-gateway sandbox`. Allowed calls work; each rule's refusal arrives as the contract's answer
and leaves the sandbox untouched."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from ..ops.procs import Ports, config, gateway_process, sandbox_process, wait_ready, write_config
from ..support import KEYS


def post(url: str, method: str, body: dict[str, Any], key: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 (a loopback URL of our own)
        f"{url}/api/{method}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_a_scoped_caller_through_real_processes(tmp_path: Path) -> None:
    ports = Ports()
    with sandbox_process() as oma_url:
        document = config(oma_url, ports, {"support": ["support"]})
        document["callers"]["support"].update(
            allow=["get_user", "change_user", "generate_token"],
            scope={"domains": ["demo.example"]},
            params={
                "generate_token": {"types": ["sso"], "max_duration": "2h"},
                "change_user": {"attributes": ["name"]},
            },
        )
        path = write_config(tmp_path / "gateway.yaml", document)
        with gateway_process("serve", "--config", str(path)) as gw:
            wait_ready(ports.admin_url)
            key = KEYS["support"]
            assert post(ports.url, "get_user", {"user": "alice@demo.example"}, key)[1]["success"]
            cases: list[tuple[str, dict[str, Any], str]] = [
                ("get_user", {"user": "erin@demo.test"}, "target_not_allowed"),
                ("change_user", {"user": "admin@demo.adm", "attributes": {"name": "x"}},
                 "target_not_allowed"),
                ("change_user", {"user": "alice@demo.example", "attributes": {"quota": 1}},
                 "parameter_not_allowed"),
                ("generate_token", {"user": "alice@demo.example", "type": "oma", "reason": "r"},
                 "parameter_not_allowed"),
                ("delete_user", {"user": "alice@demo.example"}, "method_not_allowed"),
            ]  # fmt: skip
            for method, body, code in cases:
                status, answer = post(ports.url, method, body, key)
                assert (status, answer["gateway_error"]) == (403, code), (method, answer)
            status, token = post(
                ports.url,
                "generate_token",
                {"user": "alice@demo.example", "type": "sso", "duration": 1, "reason": "ticket"},
                key,
            )
            assert status == 200 and token["success"] is True
            gw.wait_for("method_not_allowed")  # the last refusal's record has been written
            audits = [json.loads(x) for x in gw.lines if '"audit"' in x and x.startswith("{")]
            refused = [a for a in audits if a.get("refusal")]
            assert [a["gateway_error"] for a in refused] == [c[2] for c in cases[:4]]
            assert refused[0]["refusal"] == {
                "rule": "outside_scope",
                "field": "user",
                "value": "erin@demo.test",
            }
