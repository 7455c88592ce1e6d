"""check-config's checks beyond syntax: method names against the OMA catalogue, warnings,
--no-secrets, and the platform sections (trusted_proxies, tracing, egress proxy, CA files)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from gateway.config_checks import unknown_method_problems
from gateway.validation import ConfigError, parse_settings

from ..support import cli
from ..test_config import CONTRACT_EXAMPLE, ENV, parse, problems


def with_caller_lines(old: str, new: str) -> str:
    assert old in CONTRACT_EXAMPLE
    return CONTRACT_EXAMPLE.replace(old, new)


def test_an_exact_method_oma_lacks_is_a_problem_with_a_did_you_mean() -> None:
    text = with_caller_lines('allow: ["get_user", "search_*"]', 'allow: ["get_usr", "search_*"]')
    assert problems(text) == [
        "callers.billing.allow[0]: 'get_usr' is not a method in the OMA catalogue"
        " (did you mean 'get_user'?)"
    ]


def test_a_deny_typo_that_would_let_the_method_through_is_a_problem() -> None:
    text = with_caller_lines('deny: ["search_admins"]', 'deny: ["search_admin"]')
    found = problems(text)
    assert len(found) == 1 and found[0].startswith("callers.billing.deny[0]: 'search_admin'")
    assert "did you mean 'search_admins'" in found[0]


def test_a_method_limit_on_a_misspelt_method_is_a_problem() -> None:
    text = with_caller_lines("change_user: {rate: 1/s", "chnage_user: {rate: 1/s")
    found = problems(text)
    assert found == [
        "callers.billing.method_limits.chnage_user: 'chnage_user' is not a method in the OMA"
        " catalogue (did you mean 'change_user'?)"
    ]


def test_a_pattern_that_matches_no_catalogued_method_is_a_problem() -> None:
    text = with_caller_lines('allow: ["get_user", "search_*"]', 'allow: ["get_user", "serch_*"]')
    assert problems(text) == [
        "callers.billing.allow[1]: the pattern 'serch_*' matches no method in the OMA catalogue"
    ]


def test_the_catalogue_check_is_reusable_for_any_section() -> None:
    found = unknown_method_problems([
        ("callers.x.params.change_user", "change_user"),
        ("callers.x.params.change_usr", "change_usr"),
        ("callers.x.params.get_*", "get_*"),
    ])  # fmt: skip
    assert found == [
        "callers.x.params.change_usr: 'change_usr' is not a method in the OMA catalogue"
        " (did you mean 'change_user'?)"
    ]


def test_warnings_for_a_url_without_api_an_expired_key_and_a_short_drain() -> None:
    text = (
        CONTRACT_EXAMPLE.replace("hostedemail.com/api", "hostedemail.com")
        .replace('keys: ["sha256:', 'keys: [{digest: "sha256:', 1)
        .replace('", "sha256:', '", expires: 2020-01-01}, "sha256:', 1)
    )
    text += "drain_timeout: 5s\n"
    settings = parse(text)
    assert settings.warnings == (
        "upstreams.cluster-a.url: does not end in /api, where OMA serves its methods",
        "drain_timeout: 5s is shorter than upstreams.cluster-a.timeout (20s): a drain may cut"
        " calls OMA is still answering",
        f"callers.billing.keys[0]: key {settings.callers['billing'].keys[0].key_id} expired at"
        " 2020-01-01T00:00:00+00:00; it no longer works",
    )


def test_no_secrets_checks_references_without_reading_them() -> None:
    text = CONTRACT_EXAMPLE.replace("url: memory://", "url: redis://redis:6379/0").replace(
        "on_error: fail_open", "on_error: fail_open\n  encryption_key_env: GATEWAY_STORE_KEY"
    )
    with pytest.raises(ConfigError):
        parse_settings(_yaml(text), env={})
    settings = parse_settings(_yaml(text), env={}, read_secrets=False)
    assert settings.upstreams["cluster-a"].password.reveal() != ENV["OMA_PASSWORD_A"]
    bad_name = text.replace("password_env: OMA_PASSWORD_A", "password_env: 'not a name'")
    with pytest.raises(ConfigError, match="expected the name of an environment variable"):
        parse_settings(_yaml(bad_name), env={}, read_secrets=False)


def test_a_caller_without_its_own_rate_limit_beside_others_on_a_limited_account_warns() -> None:
    """The upstream's rate_limit is the account's budget, first come first served."""
    second = """  support:
    keys: ["sha256:{}"]
    upstream: cluster-a
    allow: ["get_user"]
""".format("ab" * 32)
    text = CONTRACT_EXAMPLE.replace("audit:\n", second + "audit:\n", 1)
    assert parse(text).warnings == (
        "upstreams.cluster-a.rate_limit: callers support have no rate_limit of their own: any one"
        " of them can spend the whole account's budget and leave the others rate_limited (give"
        " each a rate_limit below the upstream's)",
    )
    bounded = text.replace(
        'allow: ["get_user"]\n', 'allow: ["get_user"]\n    rate_limit: {rate: 5/s}\n'
    )
    assert parse(bounded).warnings == ()
    alone = CONTRACT_EXAMPLE.replace("    rate_limit: {rate: 10/s, burst: 20}\n", "", 1)
    assert "rate_limit: {rate: 10/s" in CONTRACT_EXAMPLE and parse(alone).warnings == ()


def test_check_config_no_secrets_passes_in_ci_and_prints_warnings(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(CONTRACT_EXAMPLE + "drain_timeout: 5s\n")
    assert cli("check-config", str(config), env={"OMA_PASSWORD_A": ""}).returncode == 1
    result = cli("check-config", "--no-secrets", str(config), env={"OMA_PASSWORD_A": ""})
    assert result.returncode == 0, result.stderr
    assert "valid (secrets not read)" in result.stdout
    assert "warning: drain_timeout: 5s is shorter than upstreams.cluster-a.timeout" in result.stderr


def test_check_config_as_a_process_names_each_typo_with_its_path_and_a_did_you_mean(
    tmp_path: Path,
) -> None:
    text = with_caller_lines('allow: ["get_user", "search_*"]', 'allow: ["get_usr", "serch_*"]')
    text = text.replace('deny: ["search_admins"]', 'deny: ["search_admin"]')
    text = text.replace("change_user: {rate: 1/s", "chnage_user: {rate: 1/s")
    config = tmp_path / "gw.yaml"
    config.write_text(text)
    result = cli("check-config", "--no-secrets", str(config))
    assert result.returncode == 1
    for line in (
        "callers.billing.allow[0]: 'get_usr' is not a method in the OMA catalogue"
        " (did you mean 'get_user'?)",
        "callers.billing.allow[1]: the pattern 'serch_*' matches no method in the OMA catalogue",
        "callers.billing.deny[0]: 'search_admin'",
        "callers.billing.method_limits.chnage_user: 'chnage_user' is not a method in the OMA"
        " catalogue (did you mean 'change_user'?)",
    ):
        assert line in result.stderr + result.stdout, result.stderr


def test_platform_sections_are_parsed() -> None:
    text = CONTRACT_EXAMPLE + (
        "trusted_proxies: ['10.0.0.0/8', '::1']\n"
        "tracing: {otlp_endpoint: 'http://127.0.0.1:4318/', service_name: gw-a}\n"
    )
    text = text.replace(
        "timeout: 20s", "timeout: 20s\n    proxy: http://proxy.internal:3128\n    trust_env: true"
    )
    settings = parse(text)
    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    assert settings.tracing.otlp_endpoint == "http://127.0.0.1:4318"
    assert settings.tracing.service_name == "gw-a"
    upstream = settings.upstreams["cluster-a"]
    assert upstream.proxy == "http://proxy.internal:3128" and upstream.trust_env is True


def test_platform_sections_report_their_problems_with_paths() -> None:
    text = CONTRACT_EXAMPLE + (
        "trusted_proxies: ['10.0.0.0/33']\ntracing: {otlp_endpoint: 'collector:4318'}\n"
    )
    text = text.replace(
        "timeout: 20s",
        "timeout: 20s\n    proxy: http://user:pw@proxy:3128\n    ca_file: /nonexistent.pem",
    ).replace("on_error: fail_open", "on_error: fail_open\n  ca_file: /nonexistent-too.pem")
    found = problems(text)
    assert any(p.startswith("trusted_proxies[0]: expected an address or CIDR") for p in found)
    assert any(p.startswith("tracing.otlp_endpoint: expected an http(s) URL") for p in found)
    assert any(p.startswith("upstreams.cluster-a.proxy: secrets never go") for p in found)
    assert any(
        p.startswith("upstreams.cluster-a.ca_file: cannot read /nonexistent.pem") for p in found
    )
    assert any(p.startswith("store.ca_file: cannot read /nonexistent-too.pem") for p in found)


def _yaml(text: str) -> object:
    import yaml

    return yaml.safe_load(text)


def test_a_params_section_for_a_misspelt_method_gets_a_did_you_mean() -> None:
    text = with_caller_lines(
        "method_limits:", "params:\n      chnage_user: {upsert: create_only}\n    method_limits:"
    )
    found = problems(text)
    assert any(
        p.startswith("callers.billing.params.chnage_user: 'chnage_user' is not a method")
        and "did you mean 'change_user'" in p
        for p in found
    ), found


def test_no_secrets_does_not_read_the_audit_signing_key(tmp_path: Path) -> None:
    text = CONTRACT_EXAMPLE.replace(
        "file: /var/log/oma-gateway/audit.jsonl",
        f"file: /var/log/oma-gateway/audit.jsonl\n  signing_key_file: {tmp_path / 'absent.pem'}",
    )
    with pytest.raises(ConfigError, match=r"audit\.signing_key_file: cannot read"):
        parse_settings(_yaml(text), env=ENV)
    settings = parse_settings(_yaml(text), env={}, read_secrets=False)
    assert settings.audit.signing_key is not None  # a placeholder: nothing was read
