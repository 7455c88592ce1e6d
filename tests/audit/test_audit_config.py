"""The audit section's signing settings, and what check-config says about an unsigned trail."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.secrets import digest
from gateway.validation import ConfigError, parse_settings

from ..support import cli
from .trail import make_key

BASE = {
    "upstreams": {"oma": {"url": "https://oma.example/api", "user": "gw@example.adm",
                          "password_env": "OMA_PW"}},
    "callers": {"ops": {"keys": [digest("k1")], "allow": ["get_user"]}},
}  # fmt: skip
ENV = {"OMA_PW": "upstream-password"}


def audit(**fields: object) -> dict[str, object]:
    return {**BASE, "audit": {"file": "/var/log/oma-gateway/audit.jsonl", **fields}}


def problems(document: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_settings(document, ENV)
    return info.value.problems


def test_a_signing_key_and_interval_are_read(tmp_path: Path) -> None:
    private, _ = make_key(tmp_path)
    settings = parse_settings(
        audit(signing_key_file=str(private), checkpoint_interval="30s"), ENV
    ).audit
    assert settings.signing_key is not None and settings.checkpoint_interval == 30.0
    assert "PRIVATE" not in repr(settings)


def test_the_interval_defaults_to_10s_and_no_key_means_no_signing() -> None:
    settings = parse_settings(audit(), ENV).audit
    assert settings.checkpoint_interval == 10.0 and settings.signing_key is None


def test_a_key_that_is_not_ed25519_or_missing_is_a_problem_with_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    assert problems(audit(signing_key_file=str(bad))) == [
        "audit.signing_key_file: expected an Ed25519 private key, PEM PKCS#8 "
        "(oma-gateway audit keygen)"
    ]
    missing = problems(audit(signing_key_file=str(tmp_path / "none.pem"), checkpoint_interval="0s"))
    assert [p.split(":")[0] for p in missing] == [
        "audit.checkpoint_interval", "audit.signing_key_file",
    ]  # fmt: skip


def test_check_config_warns_but_passes_without_a_signing_key(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(audit()))
    result = cli("check-config", str(path), env=ENV)
    assert result.returncode == 0 and "valid" in result.stdout
    assert "warning" in result.stderr and "only against accidents" in result.stderr
    private, _ = make_key(tmp_path)
    path.write_text(yaml.safe_dump(audit(signing_key_file=str(private))))
    result = cli("check-config", str(path), env=ENV)
    assert result.returncode == 0 and result.stderr == ""
