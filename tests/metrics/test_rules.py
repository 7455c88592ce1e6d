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
from gateway.wiring import assemble
from gateway.workeradmin import supervisor_families

from ..support import ROOT, bearer

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
    alerts, records = rule_names()
    assert f"SUCCESS: {len(alerts) + len(records)} rules found" in result.stdout


CASES = Path(__file__).parent / "rules_cases.yaml"


def rule_names() -> tuple[set[str], set[str]]:
    """(alert names, recorded names) of the shipped rules."""
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    return {r["alert"] for r in rules if "alert" in r}, {
        r["record"] for r in rules if "record" in r
    }


def test_every_alert_and_recording_rule_has_a_unit_test_case() -> None:
    cases = yaml.safe_load(CASES.read_text())["tests"]
    alerts = {t["alertname"] for case in cases for t in case.get("alert_rule_test", [])}
    fired = {t["alertname"] for case in cases for t in case.get("alert_rule_test", [])
             if t["exp_alerts"]}  # fmt: skip
    recorded = {t["expr"] for case in cases for t in case.get("promql_expr_test", [])}
    wanted_alerts, wanted_records = rule_names()
    assert alerts == fired == wanted_alerts  # each one seen firing, with its exact labels
    assert recorded == wanted_records


def test_the_alerts_fire_on_the_situations_they_name(tmp_path: Path) -> None:
    # promtool compares annotations verbatim; the logic under test is expr, for and labels.
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    bare = tmp_path / "rules.yaml"
    bare.write_text(yaml.safe_dump(rules))
    tests = yaml.safe_load(CASES.read_text())
    tests["rule_files"] = [str(bare)]
    path = tmp_path / "rules_test.yaml"
    path.write_text(yaml.safe_dump(tests))
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_is_grafana_json_with_a_query_per_panel() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "oma-gateway" and dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]


async def test_rules_and_dashboard_only_name_metrics_the_gateway_exports(
    aiohttp_client: AiohttpClient, settings: Settings, tmp_path: Path
) -> None:
    """What a process exports (the app as `serve` assembles it, key expiry included) plus what a
    supervisor adds, and the recorded series: nothing else may be named."""
    audit = AuditSettings(file=str(tmp_path / "audit.jsonl"))
    parts = assemble(replace(settings, audit=audit))
    gw, admin = await aiohttp_client(parts.app), await aiohttp_client(parts.admin)
    await gw.post("/api/get_user", json={"user": "alice@demo.example"}, headers=bearer("billing"))
    await asyncio.sleep(0.05)
    text = await (await admin.get("/metrics")).text()
    exported = {family.name for family in supervisor_families(1, 1, {0: 0})}
    exported = {name + "_total" if name.endswith("restarts") else name for name in exported}
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
        suffixes = ("", "_bucket", "_count", "_sum") if kind == "histogram" else ("",)
        exported |= {name + suffix for suffix in suffixes}
    _, recorded = rule_names()
    texts = RULES.read_text() + DASHBOARD.read_text()
    for name in recorded:
        texts = texts.replace(name, "")
    named = set(METRIC.findall(texts))
    assert named and named <= exported, sorted(named - exported)
    ratios = {name for name in recorded if "_ratio:" in name}  # the dashboard's ratios: recorded
    assert ratios <= set(re.findall(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", DASHBOARD.read_text()))
