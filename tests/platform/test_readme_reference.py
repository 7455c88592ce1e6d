"""The README's configuration reference against the code: every field the loader knows is listed
once, nothing else is, every default it states is what `config show` prints, no other table of
the README states one again, and its one list of restart-only settings is what
`gateway.restartonly` keeps on reload."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from gateway.config_reader import Reader
from gateway.config_show import effective_document
from gateway.restartonly import RESTART_ONLY
from gateway.units import parse_duration, parse_size
from gateway.validation import read_settings

from ..support import ROOT

SECTIONS = {  # headings, not settings
    "store",
    "upstreams",
    "callers",
    "audit",
    "tracing",
    "tls",
    "callers.NAME.scope",
    "callers.NAME.params",
    "callers.NAME.params.generate_token",
    "callers.NAME.params.change_user",
    "callers.NAME.params.change_domain",
    "callers.NAME.session_tokens",
}
ROW = re.compile(r"^\| `([^`]+)` \| (.+?) \| .+ \|$")
DIGEST = "sha256:" + "a" * 64
# Every mapping present once, each leaf absent where it has a default: the loader meets every
# field name, and config show fills in every default.
UPSTREAM = {"url": "https://oma.example/api", "user": "u", "password_env": "P"}
CALLER = {
    "keys": [{"digest": DIGEST}],
    "allow": ["get_user"],
    "rate_limit": {"rate": "1/s"},
    "scope": {"domains": ["example.org"]},
}
FULL = {
    "tls": {"cert_file": "cert.pem", "key_file": "key.pem"},  # not read: secrets are not read
    "upstreams": {"oma": {**UPSTREAM, "rate_limit": {"rate": "5/s"}}},
    "callers": {"c": {**CALLER, "method_limits": {"get_user": {"rate": "1/s"}}}},
}
ALIASES = {"store.previous_encryption_key_envs": "store.previous_encryption_keys"}


def readme_rows() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- settings-reference:start -->")[1].split("<!-- settings-reference:end")
    rows: dict[str, str] = {}
    for line in table[0].splitlines():
        if match := ROW.match(line):
            assert match[1] not in rows, f"{match[1]} is listed twice"
            rows[match[1]] = match[2]
    return rows


def generic(path: str) -> str:
    parts = path.split(".")
    if parts[0] in ("upstreams", "callers") and len(parts) > 1:
        parts[1] = "NAME"
    path = re.sub(r"\[\d+\]", "[]", ".".join(parts))
    return re.sub(r"^.*\.(rate_limit|method_limits\.[a-z_]+)$", "RATE", path)


def known_settings() -> set[str]:
    reader = Reader(env={}, read_secrets=False)
    read_settings(FULL, reader)
    found = set()
    for path, names in reader.schema.items():
        found |= {f"{generic(path)}.{name}" if path else name for name in names}
    return found - SECTIONS


def test_every_setting_the_loader_knows_is_listed_once_and_nothing_else() -> None:
    assert set(readme_rows()) == known_settings()


@pytest.mark.parametrize("setting", sorted(k for k, v in readme_rows().items() if v[0] == "`"))
def test_each_stated_default_is_the_one_the_gateway_runs_with(setting: str) -> None:
    stated = readme_rows()[setting].strip("`")
    shown = lookup(effective_document(read_settings(FULL, Reader(env={}, read_secrets=False))),
                   ALIASES.get(setting, setting))  # fmt: skip
    assert same(stated, shown), f"README says {stated!r}, config show says {shown!r}"


def test_no_other_table_restates_a_default_of_the_reference() -> None:
    """Other sections may say why a setting exists, but its default lives in one place."""
    text = (ROOT / "README.md").read_text()
    before, rest = text.split("<!-- settings-reference:start -->")
    outside = before + rest.split("<!-- settings-reference:end -->")[1]
    defaults = {name: stated for name, stated in readme_rows().items() if stated[0] == "`"}
    for line in outside.splitlines():
        if not line.startswith("| `"):
            continue
        first, *others = (cell.strip() for cell in line.strip().strip("|").split(" | "))
        for name in re.findall(r"`([^`]+)`", first):
            assert defaults.get(name) not in others, f"{name}'s default restated: {line[:80]}"


def lookup(document: dict[str, Any], setting: str) -> Any:
    path = setting.replace("RATE.", "upstreams.NAME.rate_limit.").replace("[]", ".0")
    node: Any = document
    for part in path.split("."):
        if part == "NAME":
            node = next(iter(node.values()))
        else:
            node = node[int(part)] if part.isdigit() else node[part]
    return node


def same(stated: str, shown: Any) -> bool:
    if yaml.safe_load(stated) == shown or stated == shown:
        return True
    for parse in (parse_duration, parse_size):
        try:
            if parse(stated) == shown:
                return True
        except ValueError:
            pass
    return False


def test_the_readme_lists_exactly_the_restart_only_settings_the_code_keeps() -> None:
    text = (ROOT / "README.md").read_text()
    listed = text.split("<!-- restart-only:start -->")[1].split("<!-- restart-only:end -->")[0]
    # tls is kept apart in the code: its on/off state stays, its files are re-read.
    assert set(re.findall(r"`([a-z_]+)`", listed)) == {*RESTART_ONLY, "tls"}
    assert "\n### Reloading\n" in text


def test_the_deploy_readme_points_to_that_list_instead_of_keeping_its_own() -> None:
    deploy = (ROOT / "deploy" / "README.md").read_text()
    sentence = deploy.split("need a restart")[1].split("config_reload_needs_restart")[0]
    assert "(../README.md#reloading)" in sentence
    assert not set(re.findall(r"`([a-z_]+)`", sentence)) - {"store"}  # no list of its own
