"""The policy through real processes: `oma-gateway serve` with a scoped and an unscoped caller in
front of `oma-gateway sandbox`. Each rule refuses at least one call here with the contract's
answer and a record naming it; the sandbox's own request log (`GET /_sandbox/requests`) shows
that refused calls reached nothing and allowed ones arrived as the caller sent them, apart from
the credentials the gateway puts in (its login, its session, the client label) and the
`create_only` a create-only caller is held to."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ..ops.procs import (
    Ports,
    Proc,
    config,
    gateway_process,
    post_json,
    sandbox_process,
    wait_ready,
    write_config,
)
from ..support import KEYS, OMA_USER


@dataclass(frozen=True)
class Stack:
    gateway: str
    oma: str
    proc: Proc


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    ports = Ports()
    with sandbox_process() as oma_url:
        document = config(oma_url, ports, {"support": ["support"], "billing": ["billing"]})
        document["callers"]["support"].update(
            allow=["get_*", "change_user", "generate_token", "migration_*"],
            scope={"domains": ["demo.example"]},
            params={
                "generate_token": {"types": ["sso"], "max_duration": "2h"},
                "change_user": {"attributes": ["name", "password"], "upsert": "create_only"},
            },
        )
        path = write_config(tmp_path_factory.mktemp("policy") / "gateway.yaml", document)
        with gateway_process("serve", "--config", str(path)) as proc:
            wait_ready(ports.admin_url)
            yield Stack(ports.url, oma_url.removesuffix("/api"), proc)


def post(
    stack: Stack, caller: str, method: str, body: dict[str, Any], request_id: str
) -> tuple[int, dict[str, Any]]:
    headers = {
        "Authorization": f"Bearer {KEYS[caller]}",
        "Content-Type": "application/json",
        "X-Request-ID": request_id,
    }
    return post_json(f"{stack.gateway}/api/{method}", body, headers)


def reached_oma(stack: Stack) -> list[dict[str, Any]]:
    """What the sandbox received, except the gateway's own logins."""
    url = f"{stack.oma}/_sandbox/requests"
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (our own sandbox)
        recorded: list[dict[str, Any]] = json.loads(answer.read())["requests"]
    return [r for r in recorded if r["method"] != "authenticate"]


def audits(stack: Stack, request_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The audit record of each of these calls, by request id, once all have been written."""
    for request_id in request_ids:
        stack.proc.wait_for(f'"request_id":"{request_id}"')
    lines = [json.loads(x) for x in list(stack.proc.lines) if x.startswith("{") and '"audit"' in x]
    return {a["request_id"]: a for a in lines if a.get("request_id") in request_ids}


CHOSEN = "chosen-token-value-0123456789"

# (caller, method, body, the contract's code, the rule the record names, field, value)
REFUSED: list[tuple[str, str, dict[str, Any], str, str | None, str | None, Any]] = [
    ("support", "delete_user", {"user": "alice@demo.example"},
     "method_not_allowed", None, None, None),
    ("billing", "set_role", {"user": "bob@demo.example", "role": "company", "object": "Demo Co"},
     "method_not_allowed", None, None, None),  # "*" never grants a high-risk method
    ("support", "change_user", {"user": "admin@demo.adm", "attributes": {"password": "x"}},
     "target_not_allowed", "protected_login", "user", "admin@demo.adm"),
    ("billing", "change_user", {"user": "ADMIN@demo.adm", "attributes": {"password": "x"}},
     "target_not_allowed", "protected_login", "user", "ADMIN@demo.adm"),
    ("billing", "get_user", {"user": "viewer@demo.adm"},
     "target_not_allowed", "admin_login", "user", "viewer@demo.adm"),
    ("support", "get_user", {"user": "erin@demo.test"},
     "target_not_allowed", "outside_scope", "user", "erin@demo.test"),
    ("support", "get_user", {"user": "eve@evildemo.example"},
     "target_not_allowed", "outside_scope", "user", "eve@evildemo.example"),
    ("support", "get_user", {}, "target_not_allowed", "no_target", None, None),
    ("support", "get_company", {"company": "Demo Co"},
     "target_not_allowed", "company_wide", "company", "Demo Co"),
    ("support", "migration_jobs", {}, "target_not_allowed", "unscopable_method", None, None),
    ("support", "change_user", {"user": "alice@demo.example", "attributes": {"quota": 1}},
     "parameter_not_allowed", "attribute_not_allowed", "attributes.quota", "quota"),
    ("support", "generate_token", {"user": "alice@demo.example", "type": "oma"},
     "parameter_not_allowed", "token_type", "type", "oma"),
    ("support", "generate_token", {"user": "alice@demo.example", "type": "sso", "token": CHOSEN},
     "parameter_not_allowed", "chosen_token", "token", "[REDACTED]"),
    ("support", "generate_token", {"user": "alice@demo.example", "type": "sso", "oma": True},
     "parameter_not_allowed", "oma_token", "oma", True),
    ("support", "generate_token", {"user": "alice@demo.example", "type": "sso", "duration": 876000},
     "parameter_not_allowed", "duration", "duration", 876000),
]  # fmt: skip


def test_each_rule_refuses_with_the_contracts_answer_and_nothing_reaches_oma(
    stack: Stack,
) -> None:
    before = len(reached_oma(stack))
    ids = [f"refused-{i}" for i in range(len(REFUSED))]
    for request_id, (caller, method, body, code, *_) in zip(ids, REFUSED, strict=True):
        status, answer = post(stack, caller, method, body, request_id)
        assert status == 403, (method, answer)
        assert answer["success"] is False and answer["gateway_error"] == code, (method, answer)
    records = audits(stack, ids)
    for request_id, (caller, method, _, code, rule, field, value) in zip(ids, REFUSED, strict=True):
        record = records[request_id]
        assert (record["caller"], record["method"], record["gateway_error"]) == (
            caller,
            method,
            code,
        )
        named = None if rule is None else {"rule": rule, "field": field, "value": value}
        assert record["refusal"] == named, record
    assert reached_oma(stack)[before:] == []
    assert CHOSEN not in "\n".join(stack.proc.lines)


# (caller, method, body sent, what the policy adds to it)
ALLOWED: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("support", "get_user", {"user": "alice@demo.example"}, {}),
    ("support", "get_user", {"user": "Bob@Demo.Example", "attributes": ["name"]}, {}),
    ("support", "change_user",
     {"user": "newbie@demo.example", "attributes": {"name": "New Bie", "password": "Pw-1234567"}},
     {"create_only": True}),
    ("support", "generate_token",
     {"user": "alice@demo.example", "type": "sso", "duration": 2, "reason": "ticket 7"}, {}),
    ("billing", "get_user", {"user": "erin@demo.test"}, {}),  # unscoped: any domain
    ("billing", "generate_token", {"user": "erin@demo.test", "type": "sso", "reason": "r"}, {}),
]  # fmt: skip


def test_allowed_calls_reach_oma_unchanged_apart_from_credentials(stack: Stack) -> None:
    before = len(reached_oma(stack))
    ids = [f"allowed-{i}" for i in range(len(ALLOWED))]
    for request_id, (caller, method, body, _) in zip(ids, ALLOWED, strict=True):
        status, answer = post(stack, caller, method, body, request_id)
        assert status == 200 and answer["success"] is True, (method, answer)
    seen = reached_oma(stack)[before:]
    assert [r["method"] for r in seen] == [m for _, m, _, _ in ALLOWED]
    for request_id, record, (caller, _, body, added) in zip(ids, seen, ALLOWED, strict=True):
        assert record["body"] == {**body, **added}
        assert record["user"] == OMA_USER and record["auth"] == "token"
        assert re.fullmatch(rf"\S+ caller={caller} request={request_id}", record["client"])
    records = audits(stack, ids)
    assert all(records[i]["result"] == "success" and records[i]["refusal"] is None for i in ids)
