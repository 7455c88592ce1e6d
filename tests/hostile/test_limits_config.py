"""The caller-side limits in the config: defaults, parsing, and every bad value reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.connections import CONNECTIONS, FD_RESERVE, fd_cap
from gateway.secrets import digest
from gateway.validation import ConfigError, parse_settings
from gateway.wiring import assemble

from ..support import KEYS, cli

BASE: dict[str, Any] = {
    "upstreams": {"oma": {"url": "sandbox:", "user": "a@b.adm", "password_env": "PW"}},
    "callers": {"billing": {"keys": [digest(KEYS["billing"])], "allow": ["get_user"]}},
}
ENV = {"PW": "pw"}


def test_defaults_are_the_contracts() -> None:
    settings = parse_settings(BASE, ENV)
    assert (settings.client_timeout, settings.keepalive_timeout) == (10.0, 75.0)
    assert settings.max_connections == 4096
    assert settings.max_unidentified_bodies == 4096 * 4096  # 4 KiB per default connection


def test_values_are_parsed() -> None:
    document = {**BASE, "client_timeout": "2s", "keepalive_timeout": "5m", "max_connections": 10,
                "max_unidentified_bodies": "4MiB"}  # fmt: skip
    settings = parse_settings(document, ENV)
    assert (settings.client_timeout, settings.keepalive_timeout) == (2.0, 300.0)
    assert settings.max_connections == 10
    assert settings.max_unidentified_bodies == 4 * 1024 * 1024


def test_every_bad_value_is_reported_with_its_path() -> None:
    document = {**BASE, "client_timeout": "0s", "keepalive_timeout": 5, "max_connections": 0,
                "max_unidentified_bodies": "0KiB"}  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        parse_settings(document, ENV)
    problems = "\n".join(caught.value.problems)
    for path in (
        "client_timeout",
        "keepalive_timeout",
        "max_connections",
        "max_unidentified_bodies",
    ):
        assert path in problems


def test_check_config_warns_of_a_body_budget_that_one_whole_body_cannot_fit(
    tmp_path: Path,
) -> None:
    document = {**BASE, "max_body": "1MiB", "max_unidentified_bodies": "512KiB"}
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(document))
    result = cli("check-config", str(path), env=ENV)
    assert result.returncode == 0, result.stderr
    assert "max_unidentified_bodies: 524288 bytes is less than max_body (1048576)" in (
        result.stdout + result.stderr
    )
    assert not parse_settings({**BASE, "max_unidentified_bodies": "1MiB"}, ENV).warnings


def test_the_connection_cap_fits_the_descriptor_limit() -> None:
    assert fd_cap(4096, 1024) == (1024 - FD_RESERVE) // 2 == 480
    assert fd_cap(4096, 1_048_576) == 4096
    assert fd_cap(4096, 10) == 1


def test_with_bounded_upstream_pools_callers_get_what_the_pools_leave() -> None:
    # 20,000 descriptors, one upstream of 1,024 (its call pool and session): 10,000 callers fit,
    # where halving the limit admitted 9,968 and the bench's 10,000 in flight lost 32.
    assert fd_cap(30_000, 20_000, upstream_sockets=2048) == 20_000 - FD_RESERVE - 2048 == 17_888
    assert fd_cap(16384, 20_000) == (20_000 - FD_RESERVE) // 2
    # Pools larger than half the limit: halving stays the safe bound.
    assert fd_cap(16384, 1024, upstream_sockets=2048) == (1024 - FD_RESERVE) // 2


def test_the_assembled_app_carries_the_guard_built_from_these_settings() -> None:
    # The guard is wired with the rest (wiring.assemble), not attached by serve afterwards.
    settings = parse_settings({**BASE, "client_timeout": "2s", "max_connections": 10}, ENV)
    parts = assemble(settings)
    assert parts.app[CONNECTIONS] is parts.guard
    assert (parts.guard.client_timeout, parts.guard.max_connections) == (2.0, 10)
