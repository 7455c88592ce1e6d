"""The config and key commands as real processes, and the README's command lines as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from gateway.secrets import digest

from ..support import ROOT, cli
from ..test_config import CONTRACT_EXAMPLE, DIGEST


def test_keys_digest_reads_the_key_on_stdin_and_prints_digest_and_key_id() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "keys", "digest"],
        input="omagw_some_key\n", capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        digest("omagw_some_key"),
        f"key_id {digest('omagw_some_key')[7:19]}",
    ]


def test_keys_digest_without_a_key_says_so() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "keys", "digest"],
        input="", capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert done.returncode == 1 and "expected the key on stdin" in done.stderr


def test_keys_list_prints_caller_key_id_expiry_and_whether_expired(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(
        CONTRACT_EXAMPLE.replace(f'"{DIGEST}"', f'{{digest: "{DIGEST}", expires: 2020-01-31}}')
    )
    result = cli("keys", "list", str(config), env={"OMA_PASSWORD_A": ""})  # no secret needed
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"billing\t{DIGEST[7:19]}\t2020-01-31T00:00:00+00:00\texpired",
        f"billing\t{digest('k2')[7:19]}\tnever\tvalid",
    ]


def test_config_show_fills_defaults_and_masks_secrets(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(
        CONTRACT_EXAMPLE.replace(
            "url: memory://",
            "url: redis://r:6379/0\n  password_env: REDIS_PW\n  encryption_key_env: STORE_KEY",
        )  # the Redis password never goes in the URL (refused): it comes from password_env
    )
    env = {"OMA_PASSWORD_A": "s3cret-oma-password", "REDIS_PW": "hunter2"}
    result = cli("config", "show", str(config), env=env)
    assert result.returncode == 0, result.stderr
    assert "s3cret-oma-password" not in result.stdout and "hunter2" not in result.stdout
    shown = yaml.safe_load(result.stdout)
    upstream = shown["upstreams"]["cluster-a"]
    assert upstream["password"] == "**********"
    assert upstream["max_connections"] == 1024 and upstream["proxy"] is None  # defaults
    assert shown["store"]["url"] == "redis://r:6379/0"
    assert shown["store"]["password"] == "**********"
    assert shown["drain_timeout"] == 20.0 and shown["tracing"]["service_name"] == "oma-gateway"


def readme_commands() -> list[str]:
    """Every one-shot command line of the README's sh blocks (not `serve` or a backgrounded one)."""
    text = (ROOT / "README.md").read_text()
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            one_shot = not command.endswith("&") and " serve" not in command
            # `audit` commands read a deployment's audit files, which a checkout does not have
            if "oma-gateway " in command and one_shot and "oma-gateway audit" not in command:
                lines.append(command)
    return lines


def test_the_readmes_command_lines_work_as_written() -> None:
    commands = readme_commands()
    assert any("check-config config/example.yaml" in c for c in commands)
    assert any("keys digest" in c for c in commands)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "KEY": "omagw_k"}
    env.pop("OMA_PASSWORD", None)
    for command in commands:
        done = subprocess.run(  # noqa: S602 (the README's own lines, as a reader pastes them)
            command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
