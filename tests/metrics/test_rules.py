"""Alert rules and the Grafana dashboard: valid, and written over metrics the gateway exports."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import yaml
from pytest_aiohttp import AiohttpClient

from gateway.settings import AuditSettings, Settings

from ..support import ROOT, bearer
from .test_metrics import serve

RULES = ROOT / "deploy/prometheus/rules.yaml"
DASHBOARD = ROOT / "deploy/grafana/oma-gateway.json"
METRIC = re.compile(r"\boma_gateway_[a-z_]+")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (fixed tool, our own arguments)
        ["promtool", *args],  # noqa: S607 (promtool from PATH: scripts/test installs it)
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_alert_rules_pass_promtool_check_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 8 rules found" in result.stdout


UNIT_TESTS = """
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'oma_gateway_audit_healthy{{instance="gw-1"}}'
        values: '1 1 0 0 0'
      - series: 'oma_gateway_token_expires_in_seconds{{instance="gw-1",upstream="oma"}}'
        values: '900-60x20'
      - series: >-
          oma_gateway_token_refreshes_total{{instance="gw-1",upstream="oma",result="rejected"}}
        values: '0 0 0 1 1'
    alert_rule_test:
      - eval_time: 3m
        alertname: OmaGatewayAuditWriteFailing
        exp_alerts:
          - exp_labels: {{severity: critical, instance: gw-1}}
      - eval_time: 4m
        alertname: OmaLoginRejected
        exp_alerts:
          - exp_labels: {{severity: critical, upstream: oma}}
      - eval_time: 6m
        alertname: OmaTokenNearExpiryWithoutRefresh
        exp_alerts: []
      - eval_time: 12m
        alertname: OmaTokenNearExpiryWithoutRefresh
        exp_alerts:
          - exp_labels: {{severity: warning, instance: gw-1, upstream: oma}}
"""


def test_the_alerts_fire_on_the_situations_they_name(tmp_path: Path) -> None:
    # promtool compares annotations verbatim; the logic under test is expr, for and labels.
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    bare = tmp_path / "rules.yaml"
    bare.write_text(yaml.safe_dump(rules))
    tests = tmp_path / "rules_test.yaml"
    tests.write_text(UNIT_TESTS.format(rules=json.dumps(str(bare))))
    result = promtool("test", "rules", str(tests))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_is_grafana_json_with_a_query_per_panel() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "oma-gateway" and dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]


async def test_rules_and_dashboard_only_name_metrics_the_gateway_exports(
    aiohttp_client: AiohttpClient, settings: Settings, tmp_path: Path
) -> None:
    audit = AuditSettings(file=str(tmp_path / "audit.jsonl"))
    gw, admin = await serve(aiohttp_client, replace(settings, audit=audit))
    await gw.post("/api/get_user", json={"user": "alice@demo.example"}, headers=bearer("billing"))
    await asyncio.sleep(0.05)
    text = await (await admin.get("/metrics")).text()
    exported = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
        suffixes = ("_bucket", "_count", "_sum") if kind == "histogram" else ("",)
        exported |= {name + suffix for suffix in suffixes}
    named = set(METRIC.findall(RULES.read_text())) | set(METRIC.findall(DASHBOARD.read_text()))
    assert named and named <= exported, sorted(named - exported)
