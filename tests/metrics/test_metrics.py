"""Metrics on the admin port: what each family counts, bounded labels, and promtool's lint."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
from dataclasses import replace

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from pytest_aiohttp import AiohttpClient

from gateway.admin import create_admin_app
from gateway.app import create_app
from gateway.metrics import Metrics
from gateway.sandbox import Sandbox
from gateway.sandbox.faults import Fault
from gateway.secrets import Secret
from gateway.settings import Settings, StoreSettings

from ..support import Client, bearer

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def serve(aiohttp_client: AiohttpClient, settings: Settings) -> tuple[Client, Client]:
    """The callers' app and its admin app, both over real HTTP, on an injected registry."""
    app = create_app(settings, metrics=Metrics(CollectorRegistry()))
    gw = await aiohttp_client(app)
    admin = await aiohttp_client(create_admin_app(app))
    return gw, admin


async def scrape(admin: Client) -> tuple[str, Samples]:
    response = await admin.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def post(gw: Client, method: str, caller: str | None, **body: object) -> int:
    headers = bearer(caller) if caller else {}
    response = await gw.post(f"/api/{method}", json=body, headers=headers)
    await response.read()
    return response.status


async def test_calls_are_counted_by_caller_method_and_outcome(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    gw, admin = await serve(aiohttp_client, settings)
    await post(gw, "get_user", "billing", user="alice@demo.example")
    await post(gw, "get_user", "billing", user="nobody@demo.example")
    await post(gw, "get_user", None, user="alice@demo.example")
    await post(gw, "delete_user", "billing", user="alice@demo.example")
    await post(gw, "restore_deleted_messages", "support", user="alice@demo.example",
               ids=["d1", "nope"])  # fmt: skip
    _, samples = await scrape(admin)
    total = "oma_gateway_requests_total"
    assert value(samples, total, caller="billing", method="get_user", outcome="success") == 1
    assert value(samples, total, caller="billing", method="get_user", outcome="oma_error") == 1
    assert value(samples, total, caller="unauthenticated", method="get_user",
                 outcome="unauthenticated") == 1  # fmt: skip
    assert value(samples, total, caller="billing", method="delete_user",
                 outcome="method_not_allowed") == 1  # fmt: skip
    assert value(samples, total, caller="support", method="restore_deleted_messages",
                 outcome="partial") == 1  # fmt: skip
    assert value(samples, "oma_gateway_oma_errors_total", method="get_user", error_number="2") == 1
    items = "oma_gateway_bulk_items_total"
    assert value(samples, items, method="restore_deleted_messages", result="success") == 1
    assert value(samples, items, method="restore_deleted_messages", result="error_2") == 1


async def test_made_up_method_names_collapse_to_other(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    gw, admin = await serve(aiohttp_client, settings)
    for n in range(5):
        await post(gw, f"get_attacker_chosen_{n}", "support")
    await post(gw, "get_attacker_chosen_x", None)
    text, samples = await scrape(admin)
    assert "attacker_chosen" not in text
    total = "oma_gateway_requests_total"
    # OMA refused the unknown methods without JSON: the outcome is the code the caller got.
    assert value(samples, total, caller="support", method="other", outcome="upstream_rejected") == 5


async def test_an_exact_allowlist_name_outside_the_catalogue_keeps_its_label(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    billing = replace(settings.callers["billing"], allow=("get_*", "custom_thing"))
    gw, admin = await serve(aiohttp_client, replace(settings, callers={"billing": billing}))
    await post(gw, "custom_thing", "billing")
    _, samples = await scrape(admin)
    assert any(labels and ("method", "custom_thing") in labels for (_, labels) in samples)


async def test_latency_histograms_resolve_sub_millisecond_overhead(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    gw, admin = await serve(aiohttp_client, settings)
    for _ in range(3):
        await post(gw, "get_user", "billing", user="alice@demo.example")
    _, samples = await scrape(admin)
    added = "oma_gateway_added_duration_seconds"
    assert value(samples, added + "_count") == 3
    assert ("oma_gateway_added_duration_seconds_bucket", (("le", "5e-05"),)) in samples
    assert value(samples, "oma_gateway_upstream_duration_seconds_count", upstream="oma") == 3
    assert value(samples, "oma_gateway_request_duration_seconds_count", caller="billing") == 3


async def test_rate_limit_decisions_are_counted(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    gw, admin = await serve(aiohttp_client, settings)
    statuses = [await post(gw, "get_user", "readonly", user="bob@demo.example") for _ in range(5)]
    assert statuses.count(429) >= 1
    _, samples = await scrape(admin)
    decisions = "oma_gateway_ratelimit_decisions_total"
    assert value(samples, decisions, caller="readonly", decision="allowed") == statuses.count(200)
    assert value(samples, decisions, caller="readonly", decision="denied") == statuses.count(429)


async def test_token_state_and_refreshes_are_exported(
    aiohttp_client: AiohttpClient, settings: Settings, oma: Sandbox
) -> None:
    gw, admin = await serve(aiohttp_client, settings)
    await post(gw, "get_user", "billing", user="bob@demo.example")
    oma.revoke_tokens()
    await post(gw, "get_user", "billing", user="bob@demo.example")
    _, samples = await scrape(admin)
    assert value(samples, "oma_gateway_token_usable", upstream="oma") == 1
    assert value(samples, "oma_gateway_token_refreshes_total", upstream="oma", result="ok") == 2
    assert value(samples, "oma_gateway_resent_total", upstream="oma") == 1
    assert 3500 < value(samples, "oma_gateway_token_expires_in_seconds", upstream="oma") <= 3600
    assert value(samples, "oma_gateway_token_age_seconds", upstream="oma") >= 0
    assert value(samples, "oma_gateway_token_waits_total", upstream="oma") >= 1
    assert ("oma_gateway_token_waiters", (("upstream", "oma"),)) in samples


async def test_build_info_in_flight_and_store_state_are_exported(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    _, admin = await serve(aiohttp_client, settings)
    _, samples = await scrape(admin)
    assert any(name == "oma_gateway_build_info" for name, _ in samples)
    assert value(samples, "oma_gateway_requests_in_flight") == 0
    assert value(samples, "oma_gateway_store_healthy") == 1  # memory:// has no `healthy`: default


async def test_a_redis_store_exposes_its_breaker_and_errors(
    aiohttp_client: AiohttpClient, settings: Settings, redis_url: str
) -> None:
    key = Secret(base64.urlsafe_b64encode(os.urandom(32)).decode())
    store = StoreSettings(url=redis_url, encryption_key=key)
    gw, admin = await serve(aiohttp_client, replace(settings, store=store))
    await post(gw, "get_user", "readonly", user="bob@demo.example")
    _, samples = await scrape(admin)
    assert value(samples, "oma_gateway_store_healthy") == 1
    assert value(samples, "oma_gateway_store_breaker_state", state="closed") == 1
    assert value(samples, "oma_gateway_store_breaker_state", state="open") == 0


async def test_the_exposition_passes_promtool_check_metrics(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    gw, admin = await serve(aiohttp_client, settings)
    await post(gw, "get_user", "billing", user="alice@demo.example")
    await post(gw, "restore_deleted_messages", "support", user="alice@demo.example", ids=["d1"])
    await post(gw, "get_user", "readonly", user="alice@demo.example")
    text, _ = await scrape(admin)
    lint = await asyncio.to_thread(
        subprocess.run,
        ["promtool", "check", "metrics"],
        input=text, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert lint.returncode == 0 and lint.stdout.strip() == "", lint.stdout + lint.stderr


async def test_metrics_are_not_served_on_the_callers_port(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    gw, _ = await serve(aiohttp_client, settings)
    response = await gw.get("/metrics")
    assert response.status in (404, 405)
    assert "oma_gateway" not in await response.text()


async def test_counters_that_alerts_read_exist_at_zero_before_their_first_increment(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    """A series born at its first increment hides that increment from increase(): an outage's
    first burst of failures would not count. Every configured caller is exported from 0."""
    _, admin = await serve(aiohttp_client, settings)
    _, samples = await scrape(admin)

    def exported(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]  # KeyError: not exported

    failed = "oma_gateway_failed_requests_total"
    for caller in (*settings.callers, "unauthenticated"):
        for outcome in ("upstream_unavailable", "upstream_timeout", "store_unavailable"):
            assert exported(failed, caller=caller, outcome=outcome) == 0
        for decision in ("allowed", "denied", "degraded"):
            assert exported("oma_gateway_ratelimit_decisions_total", caller=caller,
                            decision=decision) == 0  # fmt: skip
        assert exported("oma_gateway_request_duration_seconds_count", caller=caller) == 0
    assert exported("oma_gateway_resent_total", upstream="oma") == 0


async def test_a_gateway_5xx_is_counted_as_a_failed_call_of_its_caller(
    aiohttp_client: AiohttpClient, settings: Settings, oma: Sandbox
) -> None:
    gw, admin = await serve(aiohttp_client, settings)
    await post(gw, "get_user", "billing")  # logged in
    oma.faults.http_500 = Fault(methods={"get_user"})
    await post(gw, "get_user", "billing")
    _, samples = await scrape(admin)
    failed = "oma_gateway_failed_requests_total"
    assert value(samples, failed, caller="billing", outcome="upstream_unavailable") == 1
    assert value(samples, "oma_gateway_request_duration_seconds_count", caller="billing") == 2
