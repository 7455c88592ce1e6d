"""The contract's `scope` and `params` in the config: parsed into settings, every problem with its
path, and the legal-but-dangerous configs that `check-config` warns about."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.policy.lint import policy_warnings
from gateway.secrets import digest
from gateway.settings import CallerParams, ChangeRules, Settings, TokenRules
from gateway.validation import ConfigError, parse_settings

from ..support import ROOT, cli

ENV = {"OMA_PASSWORD_A": "s3cret-oma-password"}


def document(caller: dict[str, Any], user: str = "gateway@example.com") -> dict[str, Any]:
    return {
        "upstreams": {
            "cluster-a": {
                "url": "https://admin.a.hostedemail.com/api",
                "user": user,
                "password_env": "OMA_PASSWORD_A",
            },
        },
        "callers": {"helpdesk": {"keys": [digest("k1")], **caller}},
    }


def parse(caller: dict[str, Any], user: str = "gateway@example.com") -> Settings:
    return parse_settings(document(caller, user), ENV)


def problems(caller: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(caller)
    return info.value.problems


CONTRACT_HELPDESK = yaml.safe_load("""
allow: [get_user, change_user, search_users, generate_token]
scope:
  domains: ["customers.example", "*.customers.example"]
params:
  change_user:
    attributes: [password, name, status]
  change_domain:
    attributes: [timezone, language]
  generate_token:
    types: [sso]
    oma: false
    max_duration: 2h
""")


def test_the_contracts_helpdesk_example_parses() -> None:
    helpdesk = parse(CONTRACT_HELPDESK).callers["helpdesk"]
    assert helpdesk.scope == ("customers.example", "*.customers.example")
    assert helpdesk.params == CallerParams(
        generate_token=TokenRules(types=("sso",), oma=False, max_duration=7200.0),
        change_user=ChangeRules(attributes=("password", "name", "status")),
        change_domain=ChangeRules(attributes=("timezone", "language")),
    )


def test_without_params_generate_token_gets_the_contracts_defaults() -> None:
    helpdesk = parse({"allow": ["generate_token"]}).callers["helpdesk"]
    assert helpdesk.scope is None
    assert helpdesk.params.generate_token == TokenRules(
        types=("sso",), oma=False, max_duration=86400.0
    )


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        (
            {"allow": ["*"], "scope": {"domains": []}},
            "scope.domains: expected at least one",
        ),
        (
            {"allow": ["*"], "scope": {"domains": ["bad domain"]}},
            "scope.domains[0]: expected a domain",
        ),
        (
            {"allow": ["*"], "scope": {"domain": ["x.example"]}},
            "scope.domain: unknown field",
        ),
        ({"allow": ["*"], "scope": ["x.example"]}, "scope: expected a mapping"),
        (
            {"allow": ["*"], "params": {"get_user": {}}},
            "params.get_user: unknown field",
        ),
        (
            {"allow": ["*"], "params": {"generate_token": {"types": ["admin"]}}},
            "params.generate_token.types[0]: expected one of session, sso, oma",
        ),
        (
            {"allow": ["*"], "params": {"generate_token": {"oma": "yes"}}},
            "params.generate_token.oma: expected true or false",
        ),
        (
            {"allow": ["*"], "params": {"generate_token": {"max_duration": "30m"}}},
            "params.generate_token.max_duration: OMA counts duration",
        ),
        (
            {"allow": ["*"], "params": {"change_user": {"attributes": "password"}}},
            "params.change_user.attributes: expected a list",
        ),
        (
            {"allow": ["*"], "params": {"change_user": {"upsert": "never"}}},
            "params.change_user.upsert: expected one of any, create_only",
        ),
    ],
)
def test_every_problem_is_reported_with_its_field_path(
    caller: dict[str, Any], expected: str
) -> None:
    found = problems(caller)
    assert any(p.startswith(f"callers.helpdesk.{expected}") for p in found), found


def warnings_for(caller: dict[str, Any], user: str = "gateway@example.com") -> list[str]:
    return policy_warnings(parse(caller, user))


def test_a_pattern_granting_mutating_methods_without_scope_is_warned_about() -> None:
    (warning,) = [w for w in warnings_for({"allow": ["get_*", "change_*"]}) if "allow" in w]
    assert warning.startswith("callers.helpdesk.allow[1]: 'change_*' grants mutating methods")
    assert warnings_for({"allow": ["get_*", "change_*"], "scope": {"domains": ["x.example"]}}) == []
    assert warnings_for({"allow": ["get_*", "change_user"]}) == []


@pytest.mark.parametrize(
    "params",
    [{}, {"generate_token": {}}, {"generate_token": {"max_duration": "2h", "oma": False}}],
    ids=["no-params", "empty", "cap-without-types"],
)
def test_generate_token_without_explicit_types_is_warned_about(params: dict[str, Any]) -> None:
    (warning,) = warnings_for({"allow": ["generate_token"], "params": params})
    assert warning.startswith("callers.helpdesk.params.generate_token.types: not set")


@pytest.mark.parametrize(
    "rules",
    [{"types": ["sso"]}, {"types": ["sso"], "max_duration": "2h"}],
    ids=["types-only", "types-and-cap"],
)
def test_generate_token_with_explicit_types_gets_no_warning(rules: dict[str, Any]) -> None:
    explicit = {"allow": ["generate_token"], "params": {"generate_token": rules}}
    assert warnings_for(explicit) == []


SSO_ONLY = {
    "allow": ["generate_token"],
    "params": {"generate_token": {"types": ["sso"], "max_duration": "2h"}},
}


def shared(user: str, **callers: dict[str, Any]) -> list[str]:
    """The warnings of one upstream with this login serving these callers."""
    doc = document({}, user)
    doc["callers"] = {name: {"keys": [digest(name)], **c} for name, c in callers.items()}
    return policy_warnings(parse_settings(doc, ENV))


def test_a_company_admin_login_shared_by_sso_and_broader_callers_points_at_company_token_only() -> (
    None
):
    helpdesk = {"allow": ["get_user", "change_user"], "scope": {"domains": ["x.example"]}}
    (warning,) = shared("gateway@example.adm", portal=SSO_ONLY, helpdesk=helpdesk)
    assert warning.startswith(
        "upstreams.cluster-a.user: a company admin login that serves helpdesk"
    )
    assert "also serves portal" in warning and "company_token_only" in warning


def test_an_adm_login_serving_only_sso_callers_is_not_warned_about() -> None:
    """It may well be the company_token_only login the README advises: its name cannot say."""
    assert shared("sso-gateway@example.adm", portal=SSO_ONLY, kiosk=SSO_ONLY) == []


def test_a_non_adm_login_or_a_caller_minting_more_than_sso_is_not_the_sso_warning() -> None:
    helpdesk = {"allow": ["get_user"], "scope": {"domains": ["x.example"]}}
    assert shared("gateway@x.example", portal=SSO_ONLY, helpdesk=helpdesk) == []
    sessions = {"allow": ["generate_token"], "params": {"generate_token": {"types": ["session"]}}}
    assert shared("gateway@example.adm", portal=sessions, helpdesk=helpdesk) == []


def test_the_readmes_least_privilege_example_gets_no_warning() -> None:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("Least privilege at OMA itself") :]
    block = section[section.index("```yaml\n") + len("```yaml\n") : section.index("\n```\n")]
    keys = iter(digest(f"k{i}") for i in range(block.count("sha256:...")))
    doc = yaml.safe_load(re.sub(r"sha256:\.\.\.", lambda _: next(keys), block))
    settings = parse_settings(doc, {}, read_secrets=False)
    assert settings.upstreams["sso"].user.endswith(".adm")  # the company_token_only login
    assert policy_warnings(settings) == [] and settings.warnings == ()


def test_check_config_prints_warnings_and_still_exits_zero(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(document({"allow": ["*"]})))
    done = cli("check-config", str(path), env=ENV)
    assert done.returncode == 0, done.stderr
    assert "warning: callers.helpdesk.allow[0]: '*' grants mutating methods" in done.stderr
    printed = sum(line.startswith("warning: ") for line in done.stderr.splitlines())
    assert f", {printed} warnings)" in done.stdout, "the summary counts every warning printed"


def test_the_shipped_example_config_is_valid_and_its_support_caller_is_scoped() -> None:
    settings = parse_settings(yaml.safe_load((ROOT / "config/example.yaml").read_text()),
                              {"OMA_PASSWORD": "x"})  # fmt: skip
    support = settings.callers["support"]
    assert support.scope is not None and "demo.example" in support.scope
    assert policy_warnings(settings) == []
