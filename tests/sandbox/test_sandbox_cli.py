"""The CLI's flags, parsed in-process into a configured sandbox."""

from __future__ import annotations

import argparse

import pytest

from gateway.sandbox import Fault, ManualClock
from gateway.sandbox.cli import add_arguments, build_sandbox


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["--listen", "127.0.0.1:0", *argv])


def test_listen_is_split_into_host_and_port() -> None:
    assert parse().listen == ("127.0.0.1", 0)
    assert parse("--listen", "[::1]:8080").listen == ("::1", 8080)


def test_fault_flags_become_limited_faults() -> None:
    args = parse(
        "--non-json", "--reset-connections", "--fault-methods", "a,b", "--fault-times", "2"
    )
    sandbox = build_sandbox(args)
    expected = Fault(methods=frozenset({"a", "b"}), times=2)
    assert (sandbox.faults.non_json, sandbox.faults.reset) == (expected, expected)
    assert sandbox.faults.hang is None
    assert sandbox.faults.http_500 is None


def test_latency_flag_sets_seconds() -> None:
    sandbox = build_sandbox(parse("--latency", "0.25"))
    assert sandbox.faults.latency == Fault(seconds=0.25)


def test_manual_clock_flag_freezes_time() -> None:
    assert isinstance(build_sandbox(parse("--manual-clock")).clock, ManualClock)
    assert not isinstance(build_sandbox(parse()).clock, ManualClock)


def test_password_flag_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_PASSWORD", "from-env")
    assert parse().password == "from-env"
    assert parse("--password", "from-flag").password == "from-flag"


def test_manual_clock_does_not_run_backwards() -> None:
    with pytest.raises(ValueError, match="backwards"):
        ManualClock().advance(-1)


def test_role_flag_sets_the_configured_logins_role() -> None:
    sandbox = build_sandbox(parse("--role", "company_ro"))
    assert sandbox.role == "company_ro"
    assert sandbox.directory.roles["admin@demo.adm"].kind == "company_ro"
    assert build_sandbox(parse()).role == "company"


def test_unknown_role_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        parse("--role", "superuser")
