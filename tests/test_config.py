"""Config parsing: the contract's YAML into frozen settings, every problem with its path."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from gateway.secrets import Secret, digest
from gateway.settings import CallerKey, CallerSettings, RateSpec, Settings, UpstreamSettings
from gateway.units import parse_duration, parse_rate, parse_size
from gateway.validation import ConfigError, load_settings, parse_settings

from .support import ROOT

DIGEST = digest("k1")
ENV = {"OMA_PASSWORD_A": "s3cret-oma-password", "GATEWAY_STORE_KEY": "A" * 43 + "="}

CONTRACT_EXAMPLE = f"""
listen: 127.0.0.1:8080
admin_listen: 127.0.0.1:9090
max_body: 1MiB
store:
  url: memory://
  on_error: fail_open
upstreams:
  cluster-a:
    url: https://admin.a.hostedemail.com/api
    user: gateway@example.adm
    password_env: OMA_PASSWORD_A
    client: acme-oma-gateway
    token_lifetime: 3h
    timeout: 20s
    rate_limit: {{rate: 50/s, burst: 100}}
callers:
  billing:
    keys: ["{DIGEST}", "{digest("k2")}"]
    upstream: cluster-a
    allow: ["get_user", "search_*"]
    deny: ["search_admins"]
    rate_limit: {{rate: 10/s, burst: 20}}
    method_limits:
      change_user: {{rate: 1/s, burst: 2}}
audit:
  file: /var/log/oma-gateway/audit.jsonl
"""


def parse(text: str, env: dict[str, str] | None = None) -> Settings:
    return parse_settings(yaml.safe_load(text), ENV if env is None else env)


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, env)
    return info.value.problems


def test_contract_example_parses_into_typed_settings() -> None:
    settings = parse(CONTRACT_EXAMPLE)
    assert dataclasses.is_dataclass(settings)
    upstream = settings.upstreams["cluster-a"]
    assert upstream.token_lifetime == 3 * 3600 and upstream.timeout == 20
    assert upstream.rate_limit == RateSpec(50.0, 100)
    assert upstream.password.reveal() == "s3cret-oma-password"
    billing = settings.callers["billing"]
    assert billing.allow == ("get_user", "search_*") and billing.deny == ("search_admins",)
    assert billing.method_limits["change_user"] == RateSpec(1.0, 2)
    assert settings.max_body == 1024 * 1024
    assert settings.audit.file == "/var/log/oma-gateway/audit.jsonl"


MINIMAL = {  # every section present and empty, every leaf with a default left out
    "store": {},
    "audit": {},
    "tracing": {},
    "upstreams": {"a": {"url": "https://oma.example/api", "user": "u",
                        "password_env": "OMA_PASSWORD_A", "rate_limit": {"rate": "5/s"}}},
    "callers": {"c": {"keys": [DIGEST], "allow": ["get_user"], "session_tokens": {},
                      "params": {"generate_token": {}, "change_user": {}, "change_domain": {}}}},
}  # fmt: skip


def test_what_the_loader_fills_in_is_each_settings_dataclass_default() -> None:
    upstream = UpstreamSettings(
        name="a",
        url="https://oma.example/api",
        user="u",
        password=Secret(ENV["OMA_PASSWORD_A"]),
        rate_limit=RateSpec(5.0, 5),
    )
    caller = CallerSettings(name="c", keys=(CallerKey(DIGEST),), upstream="a", allow=("get_user",))
    assert parse_settings(MINIMAL, ENV) == Settings(
        upstreams={"a": upstream}, callers={"c": caller}
    )


def test_settings_are_frozen() -> None:
    settings = parse(CONTRACT_EXAMPLE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.max_body = 1  # type: ignore[misc]


def test_secrets_never_show_in_repr_of_settings() -> None:
    settings = parse(CONTRACT_EXAMPLE)
    assert "s3cret-oma-password" not in repr(settings)
    assert "s3cret-oma-password" not in str(settings)


def test_every_problem_is_reported_with_its_field_path() -> None:
    text = (
        CONTRACT_EXAMPLE.replace("timeout: 20s", "timeout: 20 parsecs")
        .replace("rate: 10/s", "rate: fast")
        .replace("upstream: cluster-a", "upstream: cluster-z")
        .replace("max_body: 1MiB", "max_body: big")
    )
    found = problems(text)
    paths = {p.split(":")[0] for p in found}
    assert {
        "upstreams.cluster-a.timeout",
        "callers.billing.rate_limit.rate",
        "callers.billing.upstream",
        "max_body",
    } <= paths


def test_unknown_fields_are_refused_so_typos_do_not_pass_silently() -> None:
    found = problems(CONTRACT_EXAMPLE.replace("max_body: 1MiB", "max_bdoy: 1MiB"))
    assert found == ["max_bdoy: unknown field"]


def test_password_must_come_from_env_or_file_never_the_config_text() -> None:
    text = CONTRACT_EXAMPLE.replace("password_env: OMA_PASSWORD_A", "password: hunter2")
    found = problems(text)
    assert any(p.startswith("upstreams.cluster-a.password:") for p in found)
    assert not any("hunter2" in p for p in found)


def test_missing_password_env_variable_is_a_problem() -> None:
    found = problems(CONTRACT_EXAMPLE, env={})
    assert (
        "upstreams.cluster-a.password_env: environment variable OMA_PASSWORD_A is not set or empty"
        in found
    )


def test_password_file_is_read_and_stripped(tmp_path: Path) -> None:
    secret = tmp_path / "oma-a"
    secret.write_text("from-a-file\n")
    text = CONTRACT_EXAMPLE.replace("password_env: OMA_PASSWORD_A", f"password_file: {secret}")
    settings = parse(text)
    assert settings.upstreams["cluster-a"].password.reveal() == "from-a-file"


def test_redis_store_requires_a_32_byte_encryption_key() -> None:
    text = CONTRACT_EXAMPLE.replace("url: memory://", "url: redis://127.0.0.1:6379/0")
    assert "store.encryption_key_env: required with a shared store" in problems(text)
    with_key = text.replace(
        "on_error: fail_open", "on_error: fail_open\n  encryption_key_env: WEAK"
    )
    found = problems(with_key, env={**ENV, "WEAK": "c2hvcnQ="})
    assert "store.encryption_key_env: the key must be 32 random bytes in URL-safe base64" in found


@pytest.mark.parametrize("method", ["authenticate", "_audit", "_*"])
def test_config_that_allows_a_never_forwarded_method_is_rejected(method: str) -> None:
    text = CONTRACT_EXAMPLE.replace(
        'allow: ["get_user", "search_*"]', f'allow: ["get_user", "{method}"]'
    )
    found = problems(text)
    assert any(p.startswith("callers.billing.allow[1]:") and "never forwarded" in p for p in found)


def test_key_digests_must_be_sha256_hex_and_not_shared_between_callers() -> None:
    text = CONTRACT_EXAMPLE.replace(f'"{DIGEST}"', '"md5:abc"')
    assert any(p.startswith("callers.billing.keys[0]:") for p in problems(text))
    other = f'  other:\n    keys: ["{DIGEST}"]\n    allow: ["get_user"]\naudit:'
    shared = CONTRACT_EXAMPLE.replace("audit:", other)
    assert any("also given to" in p for p in problems(shared))


def test_key_expiry_dates_are_parsed() -> None:
    text = CONTRACT_EXAMPLE.replace(f'"{DIGEST}"', f'{{digest: "{DIGEST}", expires: 2027-01-31}}')
    key = parse(text).callers["billing"].keys[0]
    assert key.expires is not None and key.expires.isoformat() == "2027-01-31T00:00:00+00:00"


def test_admin_port_must_differ_from_callers_port() -> None:
    text = CONTRACT_EXAMPLE.replace("admin_listen: 127.0.0.1:9090", "admin_listen: 127.0.0.1:8080")
    assert any(p.startswith("admin_listen:") for p in problems(text))


def test_a_document_that_is_not_a_mapping_is_one_clear_problem() -> None:
    assert problems("- just\n- a list\n") == ["(top): expected a mapping of settings"]


def test_unreadable_or_malformed_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad)


def test_bundled_example_configs_are_valid() -> None:
    for path in sorted((ROOT / "config").glob("*.yaml")):
        load_settings(path, env={"OMA_PASSWORD": "demo-password"})


@pytest.mark.parametrize(
    ("text", "seconds"), [("500ms", 0.5), ("20s", 20.0), ("5m", 300.0), ("3h", 10800.0)]
)
def test_durations_take_ms_s_m_h(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_rates_and_sizes_take_their_units() -> None:
    assert parse_rate("50/s") == 50 and parse_rate("60/m") == 1 and parse_rate("3600/h") == 1
    assert parse_size("64KiB") == 65536 and parse_size("1MiB") == 1048576 and parse_size(10) == 10
    for bad in ("20", "fast", "0/s", None):
        with pytest.raises(ValueError):
            parse_rate(bad)
    with pytest.raises(ValueError):
        parse_duration("20")
