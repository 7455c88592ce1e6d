"""The Kubernetes manifests as a platform team runs them: rendered as `kubectl apply -k` would
create them, each bullet of issue 14 that they caused checked against that rendering (and, where
the gateway decides, against the real `oma-gateway` command)."""

from __future__ import annotations

import importlib.util
import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import yaml

from ..support import cli
from .artifacts import DEPLOY, K8S, configmap_gateway_config, load_yaml, manifest, rendered

#: bench/pod_memory.py on one worker (deploy/README.md, "Memory"): RSS idle and at 10k in flight.
IDLE_RSS_MIB, PEAK_RSS_MIB = 55, 282
GATEWAY = ("Deployment", "oma-gateway")


def mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return float(number) * (1024 if unit == "Gi" else 1)


def pod() -> dict[str, Any]:
    spec: dict[str, Any] = rendered()[GATEWAY]["spec"]["template"]["spec"]
    return spec


def stand_in_config(tmp_path: Path) -> Path:
    """The ConfigMap's config with its secret files pointed at stand-ins (deploy's own helper)."""
    spec = importlib.util.spec_from_file_location("checks", DEPLOY / "check_gateway_configs.py")
    assert spec is not None and spec.loader is not None
    checks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checks)
    secret = tmp_path / "stand-in"
    secret.write_text("cXVpdGUtYS1zdGFuZC1pbi1rZXktb2YtMzItYnl0ZXM=\n")
    config = checks.with_stand_ins(configmap_gateway_config(), secret, {})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_every_resource_is_in_the_namespace_it_names_and_the_image_is_documented() -> None:
    kustomization = load_yaml(K8S / "kustomization.yaml")
    namespace = kustomization["namespace"]
    assert rendered()[("Namespace", namespace)]
    for name in [*kustomization["resources"], "secret.template.yaml"]:
        document = load_yaml(K8S / name)
        if document["kind"] != "Namespace":  # explicit, so `kubectl apply -f FILE` agrees
            assert document["metadata"]["namespace"] == namespace, name
    (image,) = kustomization["images"]
    assert image["newName"] and image["newTag"]
    assert pod()["containers"][0]["image"] == f"{image['newName']}:{image['newTag']}"
    assert "newName" in (DEPLOY / "README.md").read_text()


def test_the_pod_starts_one_worker_and_its_memory_limit_covers_one_workers_peak(
    tmp_path: Path,
) -> None:
    """The issue: no CPU limit and no --workers, so `auto` started a worker per node core under
    a 256Mi limit that even one worker's 10k-in-flight peak exceeded."""
    container = pod()["containers"][0]
    args = container["args"]
    checked = [str(stand_in_config(tmp_path)) if a.endswith("config.yaml") else a for a in args]
    result = cli(*checked, "--check")
    assert result.returncode == 0, result.stderr
    workers = int(re.search(r"serves with (\d+) worker", result.stdout)[1])  # type: ignore[index]
    if "--workers" not in args or args[args.index("--workers") + 1] == "auto":
        assert "cpu" in container["resources"]["limits"], "auto without a CPU limit: node cores"
    assert workers == 1
    resources = container["resources"]
    assert mebibytes(resources["limits"]["memory"]) >= workers * PEAK_RSS_MIB * 1.2
    assert mebibytes(resources["requests"]["memory"]) >= workers * IDLE_RSS_MIB * 2


def test_the_admin_port_admits_only_the_monitoring_namespace() -> None:
    policy = rendered()[("NetworkPolicy", "oma-gateway")]["spec"]
    labels = rendered()[GATEWAY]["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    by_port = {rule["ports"][0]["port"]: rule.get("from") for rule in policy["ingress"]}
    assert by_port["http"] is None  # callers: from anywhere the cluster routes
    assert by_port["admin"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    named = {p["name"] for p in pod()["containers"][0]["ports"]}
    assert set(by_port) == named


def test_redis_admits_only_the_gateway_pods() -> None:
    policy = rendered()[("NetworkPolicy", "oma-gateway-redis")]["spec"]
    labels = rendered()[GATEWAY]["spec"]["template"]["metadata"]["labels"]
    (rule,) = policy["ingress"]
    (source,) = rule["from"]
    assert source["podSelector"]["matchLabels"].items() <= labels.items()
    assert rule["ports"] == [{"port": 6379, "protocol": "TCP"}]
    url = configmap_gateway_config()["store"]["url"]
    host = url.split("//")[1].split(":")[0]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == host


FAKE_KUBECTL = """#!/bin/sh
echo "$@" >> "$KUBECTL_CALLS"
case "$*" in
  *"get pods"*) echo pod/gw-a; echo pod/gw-b ;;
  *"logs pod/gw-a"*) echo '{"event": "config_reloaded", "callers": 2}' ;;
  *"logs pod/gw-b"*) echo '{"event": "config_reload_refused", "problems": ["x"]}' ;;
esac
"""


def reload_sh(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """deploy/kubernetes/reload.sh against a stand-in kubectl that records how it was asked."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL)
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
    calls = tmp_path / "calls"
    calls.write_text("")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "KUBECTL_CALLS": str(calls)}
    result = subprocess.run(  # noqa: S603 (our own script)
        ["bash", str(K8S / "reload.sh"), "--timeout", "3", *args],  # noqa: S607 (bash on PATH)
        capture_output=True, text=True, timeout=60, env={**os.environ, **env}, check=False,
    )  # fmt: skip
    return result, calls.read_text()


def test_reload_sh_reads_verdicts_from_logs_without_pods_exec(tmp_path: Path) -> None:
    result, calls = reload_sh(tmp_path)
    assert result.returncode == 1  # gw-b refused
    assert "pod/gw-a: " in result.stdout and "config_reloaded" in result.stdout
    assert "pod/gw-b: " in result.stdout and "config_reload_refused" in result.stdout
    assert " exec " not in f" {calls} "
    assert "--namespace oma-gateway" in calls
    assert "date" not in (K8S / "reload.sh").read_text().split("set -euo pipefail")[1]


def test_reload_sh_signals_through_exec_only_when_asked(tmp_path: Path) -> None:
    _, calls = reload_sh(tmp_path, "--signal", "-n", "gw")
    assert calls.count(" exec ") == 2 and "--namespace gw" in calls


def test_the_secret_template_has_every_key_the_deployment_mounts() -> None:
    secret = manifest("secret.template")["stringData"]
    config = configmap_gateway_config()
    named = {Path(config["store"]["encryption_key_file"]).name,
             Path(config["store"]["password_file"]).name}  # fmt: skip
    named |= {Path(u["password_file"]).name for u in config["upstreams"].values()}
    assert named == set(secret)
