"""The upstream section's hardening settings: unsafe URLs refused (also by `check-config`), and
the read and in-flight bounds with their defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.validation import ConfigError, parse_settings

from .support import cli

ENV = {"OMA_PW": "pw"}


def document(**oma: Any) -> dict[str, Any]:
    spec = {"url": "https://admin.a.hostedemail.com/api", "user": "u", "password_env": "OMA_PW"}
    return {
        "upstreams": {"oma": {**spec, **oma}},
        "callers": {"billing": {"keys": ["sha256:" + "0" * 64], "allow": ["get_user"]}},
    }


def problems(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(doc, ENV)
    return caught.value.problems


@pytest.mark.parametrize(
    "url",
    ["https://admin.a.hostedemail.com/api", "http://127.0.0.1:8081/api", "http://[::1]:8081/api",
     "http://localhost:8081/api", "http://127.8.9.10/api"],
)  # fmt: skip
def test_https_and_loopback_http_are_accepted(url: str) -> None:
    assert parse_settings(document(url=url), ENV).upstreams["oma"].url == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://admin.a.hostedemail.com/api", "http:// only to a loopback host"),
        ("http://10.0.0.5/api", "http:// only to a loopback host"),
        ("https://gw:secret@admin.a.hostedemail.com/api", "no user info in the URL"),
        ("https://gw@admin.a.hostedemail.com/api", "no user info in the URL"),
        ("https://admin.a.hostedemail.com/api?debug=1", "no query or fragment"),
        ("https://admin.a.hostedemail.com/api#x", "no query or fragment"),
        ("ftp://admin.a.hostedemail.com/api", "expected an http(s) URL"),
        ("https:///api", "expected an http(s) URL"),
    ],
)
def test_unsafe_upstream_urls_are_refused_with_their_path(url: str, why: str) -> None:
    found = problems(document(url=url))
    assert [p for p in found if p.startswith("upstreams.oma.url: ") and why in p], found
    assert "secret" not in " ".join(found)


def test_insecure_http_allows_plain_http_to_another_host_when_said_so() -> None:
    doc = document(url="http://oma.test.internal/api", insecure_http=True)
    assert parse_settings(doc, ENV).upstreams["oma"].insecure_http is True


def test_the_bounds_have_their_defaults_and_are_read() -> None:
    oma = parse_settings(document(), ENV).upstreams["oma"]
    assert oma.max_answer == 32 * 1024 * 1024
    assert oma.max_in_flight_per_caller is None and oma.in_flight_per_caller == 512
    assert oma.ca_file is None and oma.insecure_http is False
    doc = document(max_answer="4MiB", max_in_flight_per_caller=10, max_connections=64)
    set_ = parse_settings(doc, ENV).upstreams["oma"]
    assert (set_.max_answer, set_.in_flight_per_caller) == (4 * 1024 * 1024, 10)


def test_bad_bounds_and_an_unreadable_ca_file_are_problems(tmp_path: Path) -> None:
    doc = document(
        max_answer="lots",
        max_in_flight_per_caller=-1,
        ca_file=str(tmp_path / "nope.pem"),
        insecure_http="yes",
    )
    found = problems(doc)
    assert any(p.startswith("upstreams.oma.max_answer: ") for p in found)
    assert "upstreams.oma.max_in_flight_per_caller: expected a whole number, 0 or more" in found
    assert any(p.startswith("upstreams.oma.ca_file: cannot read") for p in found)
    assert "upstreams.oma.insecure_http: expected true or false" in found


def test_check_config_refuses_plain_http_to_a_production_host(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "upstreams: {oma: {url: 'http://admin.a.hostedemail.com/api', user: u,"
        " password_env: OMA_PW}}\n"
        "callers: {billing: {keys: ['sha256:" + "0" * 64 + "'], allow: [get_user]}}\n"
    )
    result = cli("check-config", str(config), env=ENV)
    assert result.returncode == 1
    assert "upstreams.oma.url: http:// only to a loopback host" in result.stdout + result.stderr
