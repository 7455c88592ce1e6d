"""Runs `oma-gateway check-config` on deploy/'s gateway configs, with stand-ins for their secrets.

    python deploy/check_gateway_configs.py FILE...

A FILE is a gateway config, or a Kubernetes ConfigMap whose `data["config.yaml"]` is one. The
configs name secrets that exist only where they run (`password_file: /run/secrets/...`, env
variables from a Secret), and check-config rightly insists on reading them. So each config is
checked as a copy in which every `password_file` and `encryption_key_file` points at a stand-in
file (shaped like a store key) and every `*_env` /
`*_envs` variable is set to a stand-in value shaped like a store key (32 random bytes, URL-safe
base64), which is also a valid password. Nothing else in the config is touched.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml


#: The settings that name a secret file (a password, a key); never audit.file, the gateway's output.
SECRET_FILES = ("password_file", "encryption_key_file")


def gateway_config(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    if isinstance(document, dict) and document.get("kind") == "ConfigMap":
        document = yaml.safe_load(document["data"]["config.yaml"])
    if not isinstance(document, dict):
        raise SystemExit(f"{path}: not a gateway config or a ConfigMap holding one")
    return document


def with_stand_ins(node: Any, secret_file: Path, env: dict[str, str]) -> Any:
    """A copy of the config with secret files redirected; the env names it uses get values."""
    if isinstance(node, list):
        return [with_stand_ins(item, secret_file, env) for item in node]
    if not isinstance(node, dict):
        return node
    copy = {}
    for key, value in node.items():
        if key in SECRET_FILES:
            value = str(secret_file)
        elif isinstance(key, str) and key.endswith(("_env", "_envs")):
            for name in value if isinstance(value, list) else [value]:
                env[str(name)] = base64.urlsafe_b64encode(os.urandom(32)).decode()
        copy[key] = with_stand_ins(value, secret_file, env)
    return copy


def check(path: Path, command: str, workdir: Path) -> int:
    secret_file = workdir / "stand-in-secret"
    # Shaped like a store key (32 random bytes, URL-safe base64), which is also a valid password.
    secret_file.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
    env: dict[str, str] = {}
    config = with_stand_ins(gateway_config(path), secret_file, env)
    checked = workdir / f"{path.stem}.checked.yaml"
    checked.write_text(yaml.safe_dump(config, sort_keys=False))
    print(f"{path}:", flush=True)
    # The installed oma-gateway on a config copy we wrote: no untrusted input.
    argv = [command, "check-config", str(checked)]
    return subprocess.call(argv, env={**os.environ, **env})  # noqa: S603


def main(argv: list[str]) -> int:
    command = shutil.which("oma-gateway")
    if command is None:
        print("oma-gateway not found: pip install -e . (into the venv on PATH)", file=sys.stderr)
        return 127
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in argv:
            failed |= check(Path(name), command, Path(tmp)) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
