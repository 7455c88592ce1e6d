"""trusted_proxies: X-Forwarded-For believed only from trusted peers, up to the rightmost hop
that is not a trusted proxy; the audit's remote and the failed-login throttle's address are that
client (in process through real HTTP, and through a real gateway process)."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient
from structlog.testing import capture_logs

from gateway.app import create_app
from gateway.client_address import client_address
from gateway.settings import Settings

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
from ..support import KEYS, bearer

NETS = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.0/8"))


def test_the_rightmost_untrusted_hop_is_the_client() -> None:
    assert client_address("127.0.0.1", ["6.6.6.6, 203.0.113.7, 10.1.2.3"], NETS) == "203.0.113.7"
    assert client_address("127.0.0.1", ["6.6.6.6", "203.0.113.7"], NETS) == "203.0.113.7"


def test_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert client_address("192.0.2.1", ["203.0.113.7"], NETS) == "192.0.2.1"
    assert client_address("127.0.0.1", ["203.0.113.7"], ()) == "127.0.0.1"


def test_garbage_stops_the_walk_at_the_last_trusted_hop() -> None:
    assert client_address("127.0.0.1", ["203.0.113.7, not-an-ip, 10.0.0.9"], NETS) == "10.0.0.9"
    assert client_address("127.0.0.1", ["10.0.0.1"], NETS) == "10.0.0.1"  # all trusted
    assert client_address("::ffff:10.0.0.2", ["198.51.100.1"], NETS) == "198.51.100.1"


def test_a_reloaded_trusted_set_judges_the_same_addresses_anew() -> None:
    assert client_address("127.0.0.1", ["10.1.1.1"], NETS) == "10.1.1.1"  # all trusted
    only_loopback = (ipaddress.ip_network("127.0.0.0/8"),)
    assert client_address("127.0.0.1", ["6.6.6.6, 10.1.1.1"], only_loopback) == "10.1.1.1"
    assert client_address("10.1.1.1", ["6.6.6.6"], only_loopback) == "10.1.1.1"


def test_many_distinct_clients_are_each_named_right() -> None:
    """More distinct addresses than are remembered: each is still judged, old and new alike."""
    clients = [str(ipaddress.ip_address("198.18.0.0") + n) for n in range(5000)]
    for client in (*clients, *clients[:10]):
        assert client_address("10.0.0.1", [f"{client}, 10.9.9.9"], NETS) == client


def test_long_garbage_is_no_address() -> None:
    long = "1" * 100 + ".0.0.1"
    assert client_address("127.0.0.1", [f"203.0.113.7, {long}"], NETS) == "127.0.0.1"
    assert client_address("127.0.0.1", [f"203.0.113.7, {long}"], NETS) == "127.0.0.1"


async def remote_of_one_call(
    aiohttp_client: AiohttpClient, settings: Settings, forwarded: str
) -> Any:
    gw = await aiohttp_client(create_app(settings))
    with capture_logs() as logs:
        headers = {**bearer("billing"), "X-Forwarded-For": forwarded}
        answer = await gw.post(
            "/api/get_user", json={"user": "alice@demo.example"}, headers=headers
        )
        assert answer.status == 200
    return next(line for line in logs if line.get("event") == "audit")["remote"]


async def test_the_audit_names_the_client_behind_a_trusted_ingress(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    trusted = dataclasses.replace(settings, trusted_proxies=NETS)
    assert (
        await remote_of_one_call(aiohttp_client, trusted, "6.6.6.6, 203.0.113.7") == "203.0.113.7"
    )


async def test_without_trusted_proxies_the_header_is_ignored(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    assert await remote_of_one_call(aiohttp_client, settings, "203.0.113.7") == "127.0.0.1"


@dataclass(frozen=True)
class Served:
    url: str
    proc: Proc
    trusted: bool  # whether the gateway trusts its callers' peer, 127.0.0.1


@pytest.fixture(scope="module", params=[True, False], ids=["trusted-peer", "untrusted-peer"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A gateway process behind an "ingress" at 127.0.0.1, in trusted_proxies or not."""
    trusted: bool = request.param
    ports = Ports()
    with sandbox_process() as oma_url:
        proxies = ["127.0.0.0/8"] if trusted else ["10.0.0.0/8"]
        document = config(oma_url, ports, {"billing": ["billing"]}, trusted_proxies=proxies)
        path = write_config(tmp_path_factory.mktemp("xff") / "gw.yaml", document)
        with gateway_process("serve", "--config", str(path)) as proc:
            wait_ready(ports.admin_url)
            yield Served(ports.url, proc, trusted)


def call(served: Served, key: str, forwarded: str, request_id: str) -> tuple[int, dict[str, Any]]:
    headers = {
        "Authorization": f"Bearer {key}",
        "X-Forwarded-For": forwarded,
        "X-Request-ID": request_id,
    }
    return post_json(f"{served.url}/api/get_user", {"user": "alice@demo.example"}, headers)


def test_a_gateway_process_audits_the_forwarded_client_only_behind_a_trusted_peer(
    served: Served,
) -> None:
    assert call(served, KEYS["billing"], "6.6.6.6, 203.0.113.7", "xff-1")[0] == 200
    served.proc.wait_for('"request_id":"xff-1"')
    (record,) = [
        json.loads(line)
        for line in list(served.proc.lines)
        if line.startswith("{") and '"request_id":"xff-1"' in line and '"audit"' in line
    ]
    assert record["remote"] == ("203.0.113.7" if served.trusted else "127.0.0.1")


def test_a_gateway_process_throttles_failed_logins_per_forwarded_client_behind_a_trusted_peer(
    served: Served,
) -> None:
    bad = "omagw_not_a_key_of_this_gateway_000000000000000"
    answers = [call(served, bad, "198.51.100.1", f"bad-a-{i}") for i in range(21)]
    assert [a["gateway_error"] for _, a in answers[:20]] == ["unauthenticated"] * 20
    assert answers[20][0] == 429 and answers[20][1]["gateway_error"] == "rate_limited"
    # Another client behind the same proxy has a count of its own, unless the proxy is not
    # trusted: then every client is the proxy, and shares its count.
    status, answer = call(served, bad, "198.51.100.2", "bad-b")
    expected = (401, "unauthenticated") if served.trusted else (429, "rate_limited")
    assert (status, answer["gateway_error"]) == expected
    # A valid key is served whatever its address's failures (authfailures.py).
    assert call(served, KEYS["billing"], "198.51.100.1", "good-a")[0] == 200
